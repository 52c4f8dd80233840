"""The grammar's rules that keep a user from paying for a request that cannot be right: the
one rule for command words (checked over generated lines), media kinds matching their flags,
--ref meaning reference-to-video, --duration 0, empty prompts and single-dash options."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checks import build_request
from bot.commands import SimpleCommand, TaskCommand, VideoCommand, parse
from bot.domain import MediaRef, Mode, Profile
from bot.errors import CommandError
from bot.usage import help_text

PROFILE = Profile()
VERBS = ("help", "list", "status", "cancel", "retry")
_word = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12
)


def kind(media_kind: str, name: str) -> MediaRef:
    mime = "image/png" if media_kind == "image" else "video/mp4"
    return MediaRef(media_kind, f"/m/{name}", "0" * 64, mime, 10, name)  # type: ignore[arg-type]


@given(verb=st.sampled_from(VERBS), rest=st.lists(_word, min_size=2, max_size=8))
def test_a_verb_followed_by_a_sentence_is_a_prompt(verb: str, rest: list[str]) -> None:
    command = parse(" ".join([verb, *rest]))
    assert isinstance(command, VideoCommand)
    assert command.prompt == " ".join([verb, *rest])


@given(verb=st.sampled_from(VERBS), rest=st.lists(_word, max_size=1))
def test_a_verb_alone_or_with_one_word_is_a_command_never_a_prompt(
    verb: str, rest: list[str]
) -> None:
    try:
        command = parse(" ".join([verb, *rest]))
    except CommandError as err:  # "Which task?" or "not a task reference": free answers
        assert verb in ("status", "cancel", "retry")
        assert "task" in str(err)
        return
    assert isinstance(command, SimpleCommand | TaskCommand)


@given(verb=st.sampled_from(VERBS), word=_word)
def test_a_quoted_prompt_that_starts_with_a_verb_is_a_prompt(verb: str, word: str) -> None:
    command = parse(f'"{verb} {word}"')
    assert isinstance(command, VideoCommand) and command.prompt == f"{verb} {word}"


def test_the_rule_is_in_the_help_and_the_refusal_says_how_to_quote() -> None:
    assert "a longer line is a prompt" in help_text(PROFILE)
    with pytest.raises(CommandError, match=r'put the prompt in quotes: /video "cancel everything"'):
        parse("cancel everything")
    assert parse("cancel 7kq2mx") == TaskCommand("cancel", "7KQ2MX")
    assert isinstance(parse("help the old lady cross the street"), VideoCommand)


@pytest.mark.parametrize(
    ("images", "video", "said"),
    [
        (
            (),
            kind("image", "cat.png"),
            "cat.png is an image, not a video clip; give it with --image",
        ),
        (
            (kind("video", "clip.mp4"),),
            None,
            "clip.mp4 is a video clip, not an image; give it with --video",
        ),
        ((), kind("image", "renamed.mp4"), "renamed.mp4 is an image"),
    ],
)
def test_media_must_be_the_kind_its_flag_says(
    images: tuple[MediaRef, ...], video: MediaRef | None, said: str
) -> None:
    with pytest.raises(CommandError, match=said):
        build_request(VideoCommand("animate it"), images, video, PROFILE)


def test_one_reference_image_is_reference_to_video() -> None:
    command = parse("the two of them dancing --ref a.png")
    request = build_request(command, [kind("image", "a.png")], None, PROFILE)
    assert request.mode is Mode.R2V
    plain = build_request(parse("wave --image a.png"), [kind("image", "a.png")], None, PROFILE)
    assert plain.mode is Mode.I2V


@pytest.mark.parametrize("value", ["0", "00"])
def test_a_zero_duration_is_refused_like_any_other(value: str) -> None:
    with pytest.raises(CommandError, match=f"not {int(value)}"):
        build_request(parse(f"a fox --duration {value}"), [], None, PROFILE)


@pytest.mark.parametrize("text", ["--", "-- --", "…", "!!!"])
def test_a_prompt_with_nothing_to_draw_is_refused(text: str) -> None:
    with pytest.raises(CommandError, match="Describe the video"):
        build_request(parse(text), [], None, PROFILE)


@pytest.mark.parametrize("text", ["a fox -ar 9:16", "-duration 6 a fox", "a fox -res=1080p"])
def test_one_dash_before_an_option_name_asks_if_two_were_meant(text: str) -> None:
    with pytest.raises(CommandError, match="Did you mean --"):
        parse(text)


def test_text_that_was_not_utf8_is_refused_not_a_crash() -> None:
    with pytest.raises(CommandError, match="not valid UTF-8"):
        build_request(parse("caf\udce9 fox"), [], None, PROFILE)


@pytest.mark.parametrize(("given", "kept"), [("480p", "480p"), ("8K", "8k"), ("1440", "1440p")])
def test_any_resolution_shape_is_read_and_the_profile_decides(given: str, kept: str) -> None:
    assert parse(f"a fox --res {given}").resolution == kept
    with pytest.raises(CommandError, match=f"makes 720p videos, not {kept}"):
        build_request(parse(f"a fox --res {given}"), [], None, PROFILE)
    wide = Profile(resolutions=("720p", kept))
    assert build_request(parse(f"a fox --res {given}"), [], None, wide).resolution == kept


def test_a_provider_that_edits_only_its_own_results_refuses_an_uploaded_clip_up_front() -> None:
    from bot.providers import PROVIDERS

    evolink = PROVIDERS["evolink"].allows
    clip = kind("video", "clip.mp4")
    with pytest.raises(CommandError, match="Evolink edits only videos I made"):
        build_request(parse("make it rain --video clip.mp4"), [], clip, evolink)
    assert "--video" not in help_text(evolink) and "Edit this video" in help_text(evolink)


def test_an_edit_that_keeps_the_clip_refuses_a_shape_it_would_ignore() -> None:
    from bot.providers import PROVIDERS

    google = PROVIDERS["google"].allows
    clip = kind("video", "clip.mp4")
    with pytest.raises(CommandError, match="keeps the clip's shape and length"):
        build_request(parse("make it rain --duration 4 --video c.mp4"), [], clip, google)
    assert build_request(parse("make it rain"), [], clip, google).mode is Mode.EDIT
