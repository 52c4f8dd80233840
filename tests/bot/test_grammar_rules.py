"""The grammar's rules that keep a user from paying for a request that cannot be right: the
one rule for command words (checked over generated lines), media kinds matching their flags,
--ref meaning reference-to-video, --duration 0, empty prompts and single-dash options."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checks import build_request
from bot.commands import SimpleCommand, TaskCommand, VideoCommand, parse, task_ref
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
    digest = hashlib.sha256(name.encode()).hexdigest()
    return MediaRef(media_kind, f"/m/{name}", digest, mime, 10, name)  # type: ignore[arg-type]


_ref = st.from_regex(r"[0-9A-Z]{6}", fullmatch=True)
_not_ref = _word.filter(lambda word: task_ref(word) is None)
_flag = st.sampled_from(["--ar 9:16", "--duration 6", "--res 720p", "-ar 9:16", "--image a.png"])


@given(verb=st.sampled_from(VERBS), first=_not_ref, rest=st.lists(_word, max_size=8))
def test_a_verb_followed_by_a_word_that_is_not_a_reference_is_a_prompt(
    verb: str, first: str, rest: list[str]
) -> None:
    command = parse(" ".join([verb, first, *rest]))
    assert isinstance(command, VideoCommand)
    assert command.prompt == " ".join([verb, first, *rest])


@given(verb=st.sampled_from(VERBS), ref=_ref, alone=st.booleans())
def test_a_verb_alone_or_with_a_reference_is_a_command_never_a_prompt(
    verb: str, ref: str, alone: bool
) -> None:
    try:
        command = parse(verb if alone else f"{verb} {ref.lower()}")
    except CommandError as err:  # "Which task?", or help/list given a reference: free answers
        assert (alone and verb in ("status", "cancel", "retry")) or (
            not alone and verb in ("help", "list")
        ), err
        return
    assert isinstance(command, SimpleCommand | TaskCommand)
    if isinstance(command, TaskCommand):
        assert command.ref == ref


@given(
    verb=st.sampled_from(VERBS),
    ref=st.one_of(st.none(), _ref),
    extra=st.lists(st.one_of(_word, _flag), min_size=1, max_size=4),
)
def test_anything_after_a_command_is_refused_never_paid_for(
    verb: str, ref: str | None, extra: list[str]
) -> None:
    """`cancel EX96XE --ar 9:16`, `help --ar 9:16`, `cancel EX96XE please` cost nothing."""
    if ref is None and not extra[0].startswith("-"):
        extra = ["--ar 9:16", *extra]  # a bare word after the verb makes a prompt (above)
    with pytest.raises(CommandError, match="put the prompt in quotes"):
        parse(" ".join([verb, *([ref] if ref else []), *extra]))


@given(verb=st.sampled_from(VERBS), words=st.lists(_word, max_size=3))
def test_a_quoted_prompt_that_starts_with_a_verb_is_a_prompt(verb: str, words: list[str]) -> None:
    prompt = " ".join([verb, *words])
    command = parse(f'"{prompt}" --ar 9:16')
    assert isinstance(command, VideoCommand) and command.prompt == prompt
    assert command.aspect_ratio == "9:16"


def test_the_rule_is_in_the_help_and_the_refusal_says_how_to_quote() -> None:
    assert "followed by a task reference (or by\n  nothing) is a command" in help_text(PROFILE)
    assert "followed by a task reference" not in help_text(PROFILE, platform="discord")
    with pytest.raises(CommandError) as refused:
        parse("cancel EX96XE please")
    assert str(refused.value) == (
        "Other words cannot follow `cancel EX96XE`. To run it, send `/video cancel EX96XE` "
        "alone; to make a video whose prompt starts with “cancel”, put the prompt in quotes: "
        '`/video "cancel EX96XE please"`.'
    )
    assert parse("cancel 7kq2mx") == TaskCommand("cancel", "7KQ2MX")
    assert isinstance(parse("help the old lady cross the street"), VideoCommand)
    assert parse('"help"') == VideoCommand("help")


@pytest.mark.parametrize("text", ["cancel EX96XE.", "cancel “EX96XE”", "cancel (ex96xe)!"])
def test_punctuation_around_a_reference_is_not_part_of_it(text: str) -> None:
    assert parse(text) == TaskCommand("cancel", "EX96XE")


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
    assert "--video" not in help_text(evolink)
    assert "Edit this video" in help_text(evolink, platform="slack")
    # The console has no buttons: it neither offers a clip nor points at one.
    console = help_text(evolink)
    assert "a clip" not in console and "edit" not in console.lower()


def test_an_edit_that_keeps_the_clip_refuses_a_shape_it_would_ignore() -> None:
    from bot.providers import PROVIDERS

    google = PROVIDERS["google"].allows
    clip = kind("video", "clip.mp4")
    with pytest.raises(CommandError, match="keeps the clip's shape and length"):
        build_request(parse("make it rain --duration 4 --video c.mp4"), [], clip, google)
    assert build_request(parse("make it rain"), [], clip, google).mode is Mode.EDIT


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "a fox --res 720 --resolution 720p",
            "Option --resolution was given twice (as --res and --resolution); give it once.",
        ),
        ("a fox --ar 9:16 --ar 16:9", "Option --ar was given twice; give it once."),
        (
            '"unterminated',
            "I could not read that command: a quotation mark is not closed. Close it, e.g. "
            '`/video "a fox in snow" --ar 9:16`.',
        ),
    ],
)
def test_refusals_name_what_was_typed_in_plain_words(text: str, said: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse(text)
    assert str(refused.value) == said


@pytest.mark.parametrize(
    ("text", "prompt", "ratio"),
    [("-- a cat", "a cat", None), ("a cat -- --ar 9:16", "a cat --ar 9:16", None)],
)
def test_two_dashes_end_the_options_and_are_not_sent(
    text: str, prompt: str, ratio: str | None
) -> None:
    command = parse(text)
    assert isinstance(command, VideoCommand)
    assert (command.prompt, command.aspect_ratio) == (prompt, ratio)


def test_emoji_alone_are_a_prompt() -> None:
    for text in ("🐱🌊", "😀"):
        assert build_request(parse(text), [], None, PROFILE).prompt == text
