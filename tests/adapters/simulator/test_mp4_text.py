"""The simulator's videos draw any prompt: each character with a font that has it, and text no
installed font has as a note naming its script, never as a row of empty boxes."""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

from adapters.simulator.mp4 import _FONT_FILES, _fonts, _runs, render_mp4

DEJAVU = next((p for p in _FONT_FILES if "DejaVuSans" in p and Path(p).is_file()), None)


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
