"""The simulator draws a letter and its combining marks with one font (Thai and Devanagari
vowel signs are not a dotted circle and a box), and a right-to-left word followed by an emoji
keeps its place instead of being drawn over."""

from __future__ import annotations

import unicodedata

import pytest
from PIL import ImageChops

from adapters.simulator.mp4 import _base_frame, _fonts, _runs


@pytest.mark.parametrize("text", ["नमस्ते दुनिया", "สวัสดีครับ", "👍🏽 ok", "👩‍💻 typing"])
def test_marks_joiners_and_modifiers_stay_with_their_letter(text: str) -> None:
    fonts = _fonts(24)
    runs = _runs(text, fonts)
    assert "".join(run for _, run in runs) == text  # nothing became a "<n ... characters>" note
    for _, run in runs:
        assert not unicodedata.category(run[0]).startswith("M"), runs
        assert run[0] not in "\u200d\ufe0f\U0001f3fd", runs


def test_an_emoji_after_a_right_to_left_word_is_not_drawn_over_it() -> None:
    alone = _base_frame("مرحبا", 640, 360)
    mixed = _base_frame("مرحبا 😀 hello", 640, 360)
    plain = _base_frame("", 640, 360)
    word = ImageChops.difference(alone, plain).getbbox()
    assert word is not None
    left, top, right, bottom = word
    region = (0, top, right + 2, bottom)
    assert ImageChops.difference(alone.crop(region), mixed.crop(region)).getbbox() is None
