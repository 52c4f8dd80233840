"""The simulator's videos draw any prompt: each character with a font that has it (the packaged
Noto faces on every machine), and text no font has as a note naming its script, never as a row
of empty boxes."""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import ImageFont

from adapters.simulator.mp4 import _SYSTEM_FONTS, _fonts, _runs, packaged_fonts, render_mp4

DEJAVU = next((p for p in _SYSTEM_FONTS if "DejaVuSans" in p and Path(p).is_file()), None)


def test_text_no_font_has_becomes_a_note_naming_its_script() -> None:
    only_builtin = (ImageFont.load_default(size=20),)
    drawn = "".join(text for _, text in _runs("一只狐狸 fox", only_builtin))
    assert drawn == "<4 CJK characters> fox"


def test_cyrillic_and_arabic_are_drawn_with_a_font_that_has_them() -> None:
    assert DEJAVU is not None, "this machine has DejaVu Sans (Debian's fonts-dejavu-core)"
    fonts = _fonts(20)
    runs = _runs("лиса ثعلب", fonts)
    assert "".join(text for _, text in runs) == "лиса ثعلب"  # nothing replaced
    assert all(font is not fonts[-1] for font, _ in runs)  # not the Latin-only default


def test_a_non_latin_prompt_still_makes_a_playable_video() -> None:
    data = render_mp4("一只狐狸在雪中奔跑 🦊", "9:16", 1, 64)
    assert data[4:8] == b"ftyp"


def _ink(prompt: str) -> int:
    """How many pixels of the video's first frame the prompt's white text covers."""
    data = render_mp4(prompt, "16:9", 1, 360)
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0)).to_image().convert("L")
    return sum(frame.histogram()[200:])  # the gradient and the orange label stay darker


def test_the_packaged_fonts_draw_every_script_of_a_prompt() -> None:
    fonts = _fonts(20)
    runs = _runs("一只狐狸 여우 ثعلب שועל 🦊 ✓", fonts)
    assert "".join(text for _, text in runs) == "一只狐狸 여우 ثعلب שועל 🦊 ✓"  # no note

    def face(char: str) -> str:
        font = next(font for font, text in runs if char in text)
        return Path(str(getattr(font, "path", ""))).name

    assert face("狐").startswith("NotoSansCJK")  # the packaged faces, on any machine
    assert face("ث").startswith("NotoSansArabic")
    assert face("🦊").startswith("NotoEmoji")
    # Words of a right-to-left script are one run, so they keep their order.
    assert "ثعلب يركض" in [text.strip() for _, text in _runs("ثعلب يركض", fonts)]


def test_a_cjk_prompt_is_drawn_as_its_glyphs_not_boxes() -> None:
    assert any("NotoSansCJK" in path for path in packaged_fonts()), "a dependency: make lock"
    one_stroke, dense = _ink("一一一一一一"), _ink("鬱鬱鬱鬱鬱鬱")
    assert one_stroke > 200  # drawn, not left empty
    # Missing-glyph boxes would cover the same pixels whatever the characters.
    assert dense > 3 * one_stroke, (one_stroke, dense)
