"""Discord's `/video` form read as the help teaches it: flags typed in the prompt work through
the one grammar (or are refused, free), each attachment keeps the option it came in (its kind
must match; refs mean reference-to-video), a refused request keeps none of its media, and the
form and help offer only what the provider and Discord can carry."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
from pathlib import Path

import pytest

from adapters.discord.client import VideoBot
from adapters.simulator.mp4 import render_mp4
from bot.domain import Mode
from bot.providers import PROVIDERS
from bot.usage import help_text
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered, png


async def test_flags_typed_in_the_prompt_are_read_not_paid_for_as_words(bot: DiscordBot) -> None:
    text = await answered(bot, p.slash("video", [p.option("prompt", "a fox in snow --ar 9:16")]))
    assert text.startswith("Got it: task"), text
    task = await bot.only_task()
    assert task.request.prompt == "a fox in snow" and task.request.aspect_ratio == "9:16"


@pytest.mark.parametrize(
    ("prompt", "options", "said"),
    [
        ("a fox --ar 4:3", [], "Unknown aspect ratio “4:3”. Use 16:9 or 9:16."),
        (
            "a fox --ar 9:16",
            [p.option("aspect_ratio", "16:9")],
            "The aspect_ratio was given twice, as --ar 9:16 in the prompt and as the "
            "aspect_ratio option (16:9); give it once.",
        ),
        ("a fox --image cat.png", [], "attach files in /video's image, ref or video options"),
    ],
)
async def test_a_flag_that_cannot_be_right_is_refused_and_nothing_is_recorded(
    bot: DiscordBot, prompt: str, options: list[p.Json], said: str
) -> None:
    text = await answered(bot, p.slash("video", [p.option("prompt", prompt), *options]))
    assert said in text
    assert await bot.tasks() == []


async def test_each_attachment_must_be_the_kind_its_option_says(
    bot: DiscordBot, tmp_path: Path
) -> None:
    clip = bot.fake.attach("clip.mp4", render_mp4("a clip", "16:9", 4, height=144), "video/mp4")
    text = await answered(
        bot,
        p.slash("video", [p.option("prompt", "wave"), p.option("image", clip["id"], 11)], [clip]),
    )
    assert text.startswith("clip.mp4 is a video clip, not an image"), text
    cat = bot.fake.attach("cat.png", png(), "image/png")
    text = await answered(
        bot,
        p.slash("video", [p.option("prompt", "rain"), p.option("video", cat["id"], 11)], [cat]),
    )
    assert text.startswith("cat.png is an image, not a video clip"), text
    assert await bot.tasks() == []
    # Refused requests keep nothing: the copies intake made are gone.
    assert list((tmp_path / "data" / "media").glob("*")) == []


async def test_one_reference_image_is_reference_to_video_as_in_the_console(
    bot: DiscordBot,
) -> None:
    ref = bot.fake.attach("a.png", png(), "image/png")
    options = [p.option("prompt", "dancing"), p.option("ref1", ref["id"], 11)]
    text = await answered(bot, p.slash("video", options, [ref]))
    assert text.startswith("Got it: task"), text
    assert (await bot.only_task()).request.mode is Mode.R2V


async def test_the_same_reference_image_twice_is_refused(bot: DiscordBot) -> None:
    one = bot.fake.attach("a.png", png(), "image/png")
    two = bot.fake.attach("b.png", png(), "image/png")  # the same bytes under another name
    options = [p.option("ref1", one["id"], 11), p.option("ref2", two["id"], 11)]
    text = await answered(
        bot, p.slash("video", [p.option("prompt", "two friends"), *options], [one, two])
    )
    assert "b.png is given twice" in text
    assert await bot.tasks() == []


def test_a_provider_that_takes_no_uploaded_clip_offers_no_video_option_nor_says_so() -> None:
    evolink = PROVIDERS["evolink"].allows
    client = VideoBot(evolink)
    command = client.tree.get_command("video")
    assert command is not None
    names = {o["name"] for o in command.to_dict(client.tree)["options"]}
    assert "video" not in names and "ref1" in names
    said = help_text(evolink, "/video", "/videobot", platform="discord")
    assert "video options" not in said and "ref1-ref3" in said
    assert f"up to {min(evolink.max_reference_images, 4)} images" in said
    assert "[image:FILE]" in said and "[video:" not in said
    assert "quote" not in said.lower()  # Discord's /video has no verbs to quote around
