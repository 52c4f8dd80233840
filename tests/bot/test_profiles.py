"""What the chosen provider allows reaches the user: `--res` in the grammar, refusals of a
resolution or a mode the profile does not offer (naming what it does), and help written from
each provider's profile."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.checks import build_request
from bot.commands import VideoCommand, parse
from bot.config import Settings
from bot.domain import MediaRef, Mode, Profile
from bot.errors import CommandError
from bot.providers import PROVIDERS
from bot.usage import help_text

GOOGLE = PROVIDERS["google"].allows
VERTEX = PROVIDERS["vertex"].allows
GUIDE = PROVIDERS["guide"].allows
IMAGE = MediaRef("image", "/m/1.png", "1" * 64, "image/png", 10, "1.png")
CLIP = MediaRef("video", "/m/c.mp4", "c" * 64, "video/mp4", 10, "c.mp4")


def video(text: str) -> VideoCommand:
    command = parse(text)
    assert isinstance(command, VideoCommand)
    return command


@pytest.mark.parametrize(
    ("text", "resolution"),
    [
        ("boat --res 1080p", "1080p"),
        ("boat --res 1080", "1080p"),
        ("boat --resolution=720P", "720p"),
        ("boat --RES 4K", "4k"),
        ("boat --res 2160p", "4k"),
        ("boat —res 360", "360p"),  # a phone's dash
        ("boat", None),
    ],
)
def test_res_spellings(text: str, resolution: str | None) -> None:
    assert video(text).resolution == resolution


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("boat --res huge", "Give it like 720p, 1080p or 4k"),
        ("boat --res", "--res needs a value. Use e.g. --res 1080p."),
        ("boat --res 720p --res 1080p", "given twice"),
        ("boat --resolutoin 720p", "Did you mean --resolution?"),
        ("boat --size 720p", "--res"),  # the list of options names it
    ],
)
def test_res_parse_errors_say_what_is_allowed(text: str, fragment: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert fragment in str(caught.value)


def test_the_resolution_is_set_only_when_given() -> None:
    assert build_request(video("boat"), [], None, GOOGLE).resolution is None
    asked = build_request(video("boat --res 4k --duration 10"), [], None, GOOGLE)
    assert (asked.resolution, asked.duration) == ("4k", 10)


def test_a_resolution_the_profile_does_not_list_is_refused_with_the_choices() -> None:
    with pytest.raises(CommandError) as caught:
        build_request(video("boat --res 1080p"), [], None, PROVIDERS["evolink"].allows)
    assert str(caught.value) == "Evolink makes 720p videos, not 1080p."
    narrowed = replace(GOOGLE, resolutions=("720p", "1080p"))
    with pytest.raises(CommandError) as caught:
        build_request(video("boat --res 4k"), [], None, narrowed)
    assert str(caught.value) == (
        "Google Gemini API makes 720p or 1080p videos, not 4k. Use --res 720p."
    )
    # The profile's own default is always allowed, even when given explicitly.
    assert build_request(video("boat --res 720p"), [], None, GUIDE).resolution == "720p"


def test_settings_narrow_what_res_may_ask_for() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        VIDEOBOT_PROVIDER="google",
        VIDEOBOT_RESOLUTIONS="720p,1080p",
        VIDEOBOT_RESOLUTION="1080p",
    )
    profile = settings.profile()
    assert build_request(video("boat --res 720p"), [], None, profile).resolution == "720p"
    with pytest.raises(CommandError, match="720p or 1080p videos, not 4k"):
        build_request(video("boat --res 4k"), [], None, profile)
    assert "--res       resolution: 720p or 1080p (default 1080p)" in help_text(profile)


TEXT_ONLY = replace(GOOGLE, modes=frozenset({Mode.T2V, Mode.I2V}), provider="Example")


@pytest.mark.parametrize(
    ("text", "images", "clip", "message"),
    [
        (
            "boat --mode edit",
            0,
            True,
            "Example does not offer video edit; it offers text-to-video or image-to-video.",
        ),
        (
            "make it rain",
            0,
            True,
            "Example does not offer video edit (your clip made it one); "
            "it offers text-to-video or image-to-video.",
        ),
        (
            "the two of them",
            2,
            False,
            "Example does not offer reference-to-video (your images made it one); "
            "it offers text-to-video or image-to-video.",
        ),
    ],
)
def test_a_mode_the_profile_does_not_offer_is_refused_naming_those_it_does(
    text: str, images: int, clip: bool, message: str
) -> None:
    with pytest.raises(CommandError) as caught:
        build_request(video(text), [IMAGE] * images, CLIP if clip else None, TEXT_ONLY)
    assert str(caught.value) == message
    assert build_request(video("boat"), [IMAGE], None, TEXT_ONLY).mode is Mode.I2V


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_help_shows_what_each_provider_allows(name: str) -> None:
    allows = PROVIDERS[name].allows
    text = help_text(allows)
    assert f"Provider: {allows.provider}" in text
    assert f"(default {allows.default_duration})" in text
    assert " or ".join(allows.aspect_ratios) in text
    assert f"repeat it for up to {allows.max_reference_images}" in text
    if len(allows.resolutions) > 1:
        assert f"[--res {'|'.join(allows.resolutions)}]" in text
        assert "--res       resolution" in text
    else:
        assert "--res" not in text  # no choice, no line
    for example in (line for line in text.splitlines() if "--duration" in line and '"' in line):
        assert f"--duration {allows.durations[-1]}" in example


def test_help_follows_the_durations_and_modes_a_profile_offers() -> None:
    assert "[--duration 3-15]" in help_text(VERTEX) and "seconds: 3 to 15" in help_text(VERTEX)
    assert "seconds: 4, 6, 8 or 10 (default 8)" in help_text(GOOGLE)
    text = help_text(TEXT_ONLY)
    assert "[--mode t2v|i2v]" in text and "--mode      t2v or i2v" in text
    assert "--video" not in text and "--ref" not in text and "--image ./cat.png" in text
    assert "--image takes the path of a local file." in text
    only = help_text(replace(GUIDE, modes=frozenset({Mode.T2V})))
    assert "--mode" not in only and "Only text-to-video is offered here." in only
    assert "Attach" not in only and "(and optionally" not in only


def test_help_examples_pass_the_checks_of_their_own_profile() -> None:
    """Every example the help shows is a request that profile accepts (the media stand in for
    the files each example names)."""
    for name, chosen in PROVIDERS.items():
        allows = chosen.allows
        for line in help_text(allows).splitlines():
            if not line.startswith("  /video ") or "<" in line:
                continue
            command = video(line.removeprefix("  /video ").split("  (")[0])
            count = len(command.refs) + len(command.images)  # the files differ, as named
            images = [replace(IMAGE, sha256=f"{i:064x}") for i in range(count)]
            clip = CLIP if command.video else None
            assert build_request(command, images, clip, allows).prompt, (name, line)


def test_profile_without_a_provider_name_still_reads() -> None:
    text = help_text(Profile())
    assert "Provider:" not in text and "--res" not in text
    with pytest.raises(CommandError, match="This video service makes 720p videos"):
        build_request(video("boat --res 4k"), [], None, Profile())


def test_help_in_the_chats_names_their_ways_of_giving_media_and_no_file_paths() -> None:
    slack = help_text(GUIDE, "/video", platform="slack")
    assert "@mention me" in slack and "“Animate with videobot”" in slack
    discord = help_text(GUIDE, "/video", "/videobot", platform="discord")
    assert "image, ref1-ref3 or video options" in discord and "Apps > Animate" in discord
    for text in (slack, discord):
        assert "./cat.png" not in text and "--image" not in text and "--video" not in text
    console = help_text(GUIDE)
    assert "[--image FILE] [--ref FILE ...] [--video FILE]" in console
    assert "@mention" not in console
