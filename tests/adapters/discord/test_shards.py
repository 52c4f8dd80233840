"""Sharding in one process: two sharded clients (shards 0-1 and 2-3 of 4, as two intake
processes would run them) each receive only their servers' interactions, DMs on shard 0, and
one REST-only sender, with no gateway connection, delivers every task. The same over two real
processes, with the identify spacing measured, is tests/test_discord_shards.py."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.discord.chat import DEFAULT_UPLOAD_LIMIT
from adapters.discord.client import DiscordAdapter
from adapters.discord.identify import FileIdentifyGate
from adapters.discord.sender import DiscordSender
from adapters.media.intake import MediaIntake
from adapters.simulator.server import RunningSimulator
from bot.config import Settings
from bot.domain import Profile, ReplyTarget
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.supervisor import PlatformRefused
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import discord_settings, fake_discord
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_shards import (
    SHARDS,
    ask_everywhere,
    assert_each_delivered_where_asked,
    guild_on_shard,
    set_up_servers,
    shards_that_got,
)


class CountingBudget:
    """A RestBudget that admits at once and counts what was spent."""

    def __init__(self) -> None:
        self.spent = 0

    async def spend(self) -> None:
        self.spent += 1


@contextlib.asynccontextmanager
async def serving(adapter: DiscordAdapter | DiscordSender) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.serve(stop))
    try:
        async with asyncio.timeout(20):
            await asyncio.wait(
                {task, asyncio.create_task(adapter.ready.wait())},
                return_when=asyncio.FIRST_COMPLETED,
            )
        if task.done():
            task.result()  # raises what stopped it
        yield
    finally:
        stop.set()
        await task


async def test_two_shard_ranges_receive_their_servers_and_one_rest_sender_posts_for_all(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> None:
    async with fake_discord(clock) as fake:
        guilds = set_up_servers(fake)
        service = VideoService(ledger, TEST_POLICY, clock.now, lambda: None)
        # No spacing here: the gate across real processes is measured in the process test.
        gate = FileIdentifyGate(tmp_path / "gate", spacing=timedelta(0))
        intake_budget = CountingBudget()
        intakes = [
            DiscordAdapter(
                shard_settings(fake, tmp_path, ids),
                service,
                MediaIntake(tmp_path / "media", Profile()),
                guild_ready_timeout=0.05,
                identify_gate=gate,
                rest_budget=intake_budget,
            )
            for ids in ("0-1", "2-3")
        ]
        async with serving(intakes[0]), serving(intakes[1]):
            assert sorted((i.shard_id, i.shard_count) for i in fake.identifies) == [
                (k, SHARDS) for k in range(SHARDS)
            ]
            asked = await ask_everywhere(fake, guilds)
            got = shards_that_got(fake, asked)
            # Each server's interaction went to its shard alone, the DM's to shard 0.
            assert got == {**{g: [k] for k, g in enumerate(guilds)}, None: [0]}
            # ...and was recorded by the client running that shard (the one ledger here).
            tasks = await ledger.find(TaskQuery(limit=100))
            assert {t.target.workspace_id for t in tasks} == {*map(str, guilds), "@me"}

            # Their REST requests spent from the budget, but not the interaction answers
            # (Discord does not count those against the global limit).
            answers = [s for s in fake.sent if "/interactions/" in s.path or "/webhooks/" in s.path]
            rest = [s for s in fake.sent if s.path.startswith("/api/") and s not in answers]
            assert len(answers) == 2 * len(asked) and intake_budget.spent == len(rest) > 0

            budget = CountingBudget()
            sender = DiscordSender(shard_settings(fake, tmp_path, None), rest_budget=budget)
            before, identified = len(fake.sent), len(fake.identifies)
            async with serving(sender):
                await deliver(ledger, sender, sim, http, clock, tmp_path)
            assert_each_delivered_where_asked(fake, asked, await ledger.find(TaskQuery(limit=100)))
            # The sender never opened a gateway connection, and every request it made was
            # counted against the REST budget.
            assert len(fake.identifies) == identified
            by_sender = [s for s in fake.sent[before:] if s.path.startswith("/api/")]
            assert not [s for s in fake.sent[before:] if s.path == "/gateway"]
            assert budget.spent == len(by_sender) > 2 * len(asked)
            # Each server's upload limit came from GET /guilds/{id}, once per server.
            guild_reads = [s.path for s in by_sender if "/guilds/" in s.path]
            assert sorted(guild_reads) == sorted(f"/api/v10/guilds/{g}" for g in guilds)


def shard_settings(fake: FakeDiscord, tmp_path: Path, ids: str | None) -> Settings:
    extra = {"discord_shards": SHARDS, "discord_shard_ids": ids} if ids else {}
    return discord_settings(fake, tmp_path / "data", **extra)


async def deliver(
    ledger: SqliteLedger,
    sender: DiscordSender,
    sim: RunningSimulator,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    worker = Worker(
        ledger,
        make_provider(http, sim.url),
        {"discord": sender.chat},
        TEST_POLICY,
        clock.now,
        monotonic=clock.monotonic,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(3),
    )
    for _ in range(500):
        await worker.step()
        if await ledger.next_due_at() is None:
            return
        clock.advance(1)
    raise AssertionError("the worker did not finish within the step budget")


async def test_auto_takes_discords_recommended_count_and_one_process_runs_them_all(
    tmp_path: Path, clock: FakeClock, ledger: SqliteLedger
) -> None:
    """VIDEOBOT_DISCORD_SHARDS unset: the count /gateway/bot recommends (3 here), every shard
    in this process, each server's events on its own shard (a one-shard bot is the same with
    a recommendation of 1: every other Discord test)."""
    async with fake_discord(clock) as fake:
        fake.shards = 3
        guilds = [guild_on_shard(k, 3) for k in range(3)]
        for guild_id in guilds:
            fake.add_guild(guild_id)
        service = VideoService(ledger, TEST_POLICY, clock.now, lambda: None)
        adapter = DiscordAdapter(
            shard_settings(fake, tmp_path, None),
            service,
            MediaIntake(tmp_path / "media", Profile()),
            guild_ready_timeout=0.05,
            identify_gate=FileIdentifyGate(tmp_path / "gate", spacing=timedelta(0)),
        )
        async with serving(adapter):
            assert [(i.shard_id, i.shard_count) for i in fake.identifies] == [
                (0, 3), (1, 3), (2, 3)
            ]  # fmt: skip
            assert adapter.client.plan is not None and adapter.client.plan.ids == (0, 1, 2)
            # Every server the bot is in is known to the client, each on its shard.
            for k, guild_id in enumerate(guilds):
                guild = adapter.client.get_guild(guild_id)
                assert guild is not None and guild.shard_id == k


async def test_a_refused_token_stops_the_sender_with_the_setting_to_fix(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with fake_discord(clock) as fake:
        fake.refuse_token = True
        sender = DiscordSender(shard_settings(fake, tmp_path, None))
        with pytest.raises(PlatformRefused) as refused:
            await sender.check()
        assert "DISCORD_TOKEN" in str(refused.value) and p.BOT_TOKEN not in str(refused.value)
        with pytest.raises(PlatformRefused):
            await sender.serve(asyncio.Event())
        assert not sender.ready.is_set()
        # The failed login's HTTP session is closed with it (a worker retrying a login left
        # one more unclosed session behind each time).
        assert sender.client.is_closed()
        await sender.aclose()


async def test_the_sender_reads_a_boosted_servers_upload_limit_once_and_keeps_the_default_else(
    tmp_path: Path, clock: FakeClock
) -> None:
    """No GUILD_CREATE reaches a sender: a tier-2 server's 50 MiB limit comes from GET
    /guilds/{id}, read once; a server it cannot read keeps the 10 MiB every server has."""
    async with fake_discord(clock) as fake:
        fake.guild_tier = 2
        sender = DiscordSender(shard_settings(fake, tmp_path, None))
        async with serving(sender):
            here = ReplyTarget("discord", str(p.GUILD_ID), str(p.CHANNEL_ID), str(p.USER_ID), None)
            gone = ReplyTarget("discord", "42", str(p.CHANNEL_ID), str(p.USER_ID), None)
            for _ in range(2):
                await sender.chat.learn_guild_limit(here.workspace_id)
                await sender.chat.learn_guild_limit(gone.workspace_id)
            assert await sender.chat.limits.for_target(here) == 50 * 1024 * 1024
            assert await sender.chat.limits.for_target(gone) == DEFAULT_UPLOAD_LIMIT
        reads = [path for _, path in fake.requests if "/guilds/" in path]
        assert reads == [
            f"/api/v10/guilds/{p.GUILD_ID}",
            "/api/v10/guilds/42",
            "/api/v10/guilds/42",
        ]
