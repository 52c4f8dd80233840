"""Discord's `/video` offers what the chosen provider allows: its durations, ratios, modes and
(where there is a choice) resolutions, and only the attachments its modes take; the synced
command passes Discord's published contract and a chosen resolution reaches the request."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.discord.client import VideoBot
from adapters.discord.setup import sync_commands
from adapters.simulator.server import RunningSimulator
from bot.domain import Mode, Profile
from bot.providers import PROVIDERS
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import DiscordBot, answered, discord_bot


def video_options(profile: Profile) -> dict[str, dict[str, Any]]:
    client = VideoBot(profile)
    command = client.tree.get_command("video")
    assert command is not None
    return {o["name"]: o for o in command.to_dict(client.tree)["options"]}


def values(option: dict[str, Any]) -> list[Any]:
    return [c["value"] for c in option["choices"]]


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_providers_video_command_offers_what_it_allows(name: str) -> None:
    allows = PROVIDERS[name].allows
    options = video_options(allows)
    assert values(options["duration"]) == list(allows.durations)
    assert values(options["aspect_ratio"]) == list(allows.aspect_ratios)
    # A provider that edits only its own videos offers edit as a button, not in /video.
    offered = [m for m in Mode if m in allows.modes and (m is not Mode.EDIT or allows.clip_uploads)]
    assert values(options["mode"]) == [m.value for m in offered]
    if len(allows.resolutions) > 1:
        assert values(options["resolution"]) == list(allows.resolutions)
        assert options["resolution"]["description"] == f"Default: {allows.default_resolution}"
    else:
        assert "resolution" not in options
    assert len(options) <= 25 and all(len(o.get("choices", ())) <= 25 for o in options.values())


def test_attachments_and_modes_follow_the_profile() -> None:
    images_only = replace(PROVIDERS["google"].allows, modes=frozenset({Mode.T2V, Mode.I2V}))
    options = video_options(images_only)
    assert values(options["mode"]) == ["t2v", "i2v"]
    assert "image" in options and not {"ref1", "ref2", "ref3", "video"} & set(options)
    text_only = video_options(replace(images_only, modes=frozenset({Mode.T2V})))
    assert set(text_only) == {"prompt", "aspect_ratio", "duration", "resolution"}


@pytest.fixture
async def bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    """Discord with the Google profile (the simulator behind it speaks the default dialect: the
    command and the grammar are what is under test)."""
    async with discord_bot(
        tmp_path,
        clock,
        sim,
        ledger=ledger,
        http=http,
        policy=TEST_POLICY,
        settings_overrides={"provider": "google"},
    ) as running:
        yield running


async def test_the_chosen_resolution_reaches_the_request_and_the_sync_conforms(
    bot: DiscordBot,
) -> None:
    await sync_commands(bot.settings)
    synced = next(c for c in bot.fake.synced[str(p.GUILD_ID)] if c["name"] == "video")
    options = {o["name"]: o for o in synced["options"]}
    assert values(options["resolution"]) == ["360p", "720p", "1080p", "4k"]
    assert values(options["duration"]) == [4, 6, 8, 10]

    payload = p.slash(
        "video",
        [
            p.option("prompt", "a lighthouse in a storm"),
            p.option("duration", 8, otype=4),
            p.option("resolution", "1080p"),
        ],
    )
    assert "1080p" in await answered(bot, payload)
    task = await bot.only_task()
    assert (task.request.resolution, task.request.duration) == ("1080p", 8)
    help_text = await answered(bot, p.slash("videobot", [p.subcommand("help")]))
    assert "Provider: Google Gemini API" in help_text and "--res" in help_text
    assert help_text.endswith("```")  # whole: inside Discord's 2000 characters
