"""The one /video grammar: what parses, what is refused, and that refusals say what is allowed."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checks import build_request
from bot.commands import (
    SimpleCommand,
    TaskCommand,
    VideoCommand,
    parse,
    split_words,
)
from bot.domain import MediaRef, Mode, Profile
from bot.errors import CommandError
from bot.usage import help_text

PROFILE = Profile()


def image(n: int = 1) -> MediaRef:
    return MediaRef("image", f"/m/{n}.png", f"{n:064x}", "image/png", 10, f"{n}.png")


CLIP = MediaRef("video", "/m/c.mp4", "c" * 64, "video/mp4", 10, "c.mp4")


def test_prompt_with_flags_and_defaults() -> None:
    command = parse("a fox running through snow --ar 9:16")
    assert command == VideoCommand(prompt="a fox running through snow", aspect_ratio="9:16")
    request = build_request(command, [], None, PROFILE)
    assert (request.mode, request.aspect_ratio, request.duration) == (Mode.T2V, "9:16", 6)


@pytest.mark.parametrize(
    ("text", "ratio", "duration"),
    [
        ('"a boat --ar on a river" --duration 10', "16:9", 10),
        ("boat --ar=portrait --duration=10s", "9:16", 10),
        ("boat —ar 9x16 –duration 6", "9:16", 6),  # phones turn -- into dashes
        ("boat --aspect landscape", "16:9", 6),
    ],
)
def test_flag_spellings(text: str, ratio: str, duration: int) -> None:
    request = build_request(parse(text), [], None, PROFILE)  # type: ignore[arg-type]
    assert (request.aspect_ratio, request.duration) == (ratio, duration)


def test_quoted_prompt_keeps_flag_like_words() -> None:
    command = parse('"a boat --ar on a river" --duration 10')
    assert isinstance(command, VideoCommand) and command.prompt == "a boat --ar on a river"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SimpleCommand("help")),
        ("help", SimpleCommand("help")),
        ("list", SimpleCommand("list")),
        ("status 7kq2mx", TaskCommand("status", "7KQ2MX")),
        ("cancel ABC123", TaskCommand("cancel", "ABC123")),
        ("retry ABC123", TaskCommand("retry", "ABC123")),
    ],
)
def test_verbs(text: str, expected: object) -> None:
    assert parse(text) == expected


def test_status_word_inside_a_prompt_is_a_prompt() -> None:
    command = parse("status of a lighthouse in a storm")
    assert isinstance(command, VideoCommand)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("boat --aspect-rati 9:16", "Did you mean --aspect-ratio?"),
        ("boat --colour red", "Options: --ar"),
        ("boat --ar 4:3", "Unknown aspect ratio “4:3”. Use 16:9 or 9:16."),
        ("boat --ar", "--ar needs a value"),
        ("boat --duration seven", "whole number of seconds"),
        ("boat --mode wobble", "Use t2v, i2v, r2v or edit."),
        ("boat --res huge", "Unknown resolution “huge”. Give it like 720p"),
        ('boat "unclosed', "a quotation mark is not closed"),
        ("boat --ar 9:16 --ar 16:9", "given twice"),
        ("cancel", "Which task?"),
    ],
)
def test_parse_errors_say_what_is_allowed(text: str, fragment: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    message = str(caught.value)
    assert fragment in message
    # One voice: a capital first, one full stop (or ?) at the end, never two.
    assert message[0].isupper() and message[-1] in ".?" and ".." not in message


@pytest.mark.parametrize(
    ("text", "images", "video", "fragment"),
    [
        ("boat --duration 7", 0, False, "6 or 10 seconds"),
        ("--ar 9:16", 0, False, "Describe the video"),
        ("boat --mode i2v", 0, False, "exactly one image"),
        ("boat --mode t2v", 1, False, "takes no media"),
        ("boat --mode r2v", 5, False, "1 to 4 reference images"),
        ("boat --mode edit", 0, False, "exactly one clip"),
        ("boat", 1, True, "one clip and no images; you gave 1 besides"),
    ],
)
def test_media_and_profile_errors(text: str, images: int, video: bool, fragment: str) -> None:
    command = parse(text)
    assert isinstance(command, VideoCommand)
    with pytest.raises(CommandError) as caught:
        build_request(command, [image(i) for i in range(images)], CLIP if video else None, PROFILE)
    assert fragment in str(caught.value)


def test_mode_is_inferred_from_media() -> None:
    command = parse("make it move")
    assert isinstance(command, VideoCommand)
    assert build_request(command, [image()], None, PROFILE).mode is Mode.I2V
    assert build_request(command, [image(1), image(2)], None, PROFILE).mode is Mode.R2V
    assert build_request(command, [], CLIP, PROFILE).mode is Mode.EDIT


def test_gateway_image_count_rule_is_enforced_early() -> None:
    profile = Profile(image_counts=(0, 1, 3))
    command = parse("two friends")
    assert isinstance(command, VideoCommand)
    with pytest.raises(CommandError, match="0, 1 or 3 images"):
        build_request(command, [image(1), image(2)], None, profile)


@pytest.mark.parametrize("text", ["a boat\x00", "\x1b[2Ja boat", "a boat \x7f\x85 here"])
def test_control_characters_in_a_prompt_are_refused(text: str) -> None:
    command = VideoCommand(prompt=text)
    with pytest.raises(CommandError, match="control characters"):
        build_request(command, [], None, PROFILE)


def test_prompt_length_cap() -> None:
    command = parse("x" * 2001)
    assert isinstance(command, VideoCommand)
    with pytest.raises(CommandError, match="the limit is 2000"):
        build_request(command, [], None, PROFILE)


def test_help_lists_configured_values() -> None:
    text = help_text(Profile(durations=(4, 6, 10)))
    assert "4, 6 or 10" in text and "--ar" in text and "retry <ref>" in text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_command_or_a_clear_error(text: str) -> None:
    try:
        command = parse(text)
        if isinstance(command, VideoCommand):
            request = build_request(command, [], None, PROFILE)
            assert 0 < len(request.prompt) <= PROFILE.prompt_max_chars
            assert request.duration in PROFILE.durations
    except CommandError as err:
        assert str(err).strip()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["--ar", "--duration", "--mode", "9:16", "10", "r2v", "boat", '"', "—ar"]),
        max_size=12,
    )
)
def test_flag_soup_never_raises_anything_else(words: list[str]) -> None:
    try:
        command = parse(" ".join(words))
        if isinstance(command, VideoCommand):
            build_request(command, [], None, PROFILE)
    except CommandError:
        pass


_SPLIT_ALPHABET = "ab é🦊-:=#\t\r\n\x0b\x0c\u00a0\u2003'\"\\"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(_SPLIT_ALPHABET)), max_size=40))
def test_the_fast_word_split_is_shlex(text: str) -> None:
    """The quote-free fast path splits exactly as shlex does, every whitespace kind included."""
    try:
        expected = shlex.split(text)
    except ValueError:
        with pytest.raises(ValueError):
            split_words(text)
        return
    assert split_words(text) == expected
