"""Sharding across real processes: two intake processes (shards 0-1 and 2-3 of 4) connect to
the fake Discord at once; IDENTIFYs of one bucket (shard_id % max_concurrency, 2 here) come
at least 5 s apart although each bucket's two shards are in different processes; each server's
interaction reaches the process running its shard (and lands in that process's ledger), the
DM's the one running shard 0. Then one REST-only sender delivers every task from both."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from adapters.discord.sender import DiscordSender
from adapters.simulator.server import RunningSimulator
from bot.ports import TaskQuery
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.adapters.discord.test_shards import CountingBudget, deliver, serving
from tests.conftest import SIM_KEY
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import discord_settings, fake_discord
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_shards import (
    MAX_CONCURRENCY,
    SHARDS,
    ask_everywhere,
    assert_each_delivered_where_asked,
    set_up_servers,
    shards_that_got,
)
from tests.paths import ROOT
from tests.process_harness import BotProcess, bot_process, clean_env

RANGES = ("0-1", "2-3")


@pytest.fixture
def clock() -> FakeClock:
    # The intake processes stamp tasks with the real time; the worker here starts from it.
    return FakeClock(datetime.now(UTC))


@contextlib.asynccontextmanager
async def intake_processes(
    fake: FakeDiscord, sim: RunningSimulator, tmp_path: Path
) -> AsyncIterator[list[BotProcess]]:
    async with contextlib.AsyncExitStack() as stack:
        processes = []
        for ids in RANGES:
            env = clean_env(
                tmp_path,
                {
                    "PYTHONPATH": str(ROOT),
                    "DISCORD_TOKEN": p.BOT_TOKEN,
                    "DISCORD_API_URL": fake.api_url,
                    "DISCORD_GATEWAY_URL": fake.gateway_url,
                    "VIDEO_API_URL": sim.url,
                    "VIDEO_API_KEY": SIM_KEY,
                    "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "true",
                    "VIDEOBOT_DISCORD_SHARDS": str(SHARDS),
                    "VIDEOBOT_DISCORD_SHARD_IDS": ids,
                    # One data folder (the identify gate's), a ledger each (SQLite's is owned
                    # by one process; a PostgreSQL ledger would be one for both).
                    "VIDEOBOT_DB": str(tmp_path / f"intake-{ids}.db"),
                },
            )
            processes.append(
                await stack.enter_async_context(
                    bot_process([], tmp_path, env, module="tests.fakes.discord_intake")
                )
            )
        yield processes


async def test_four_shards_in_two_processes_spaced_per_bucket_and_one_sender_posts_for_all(
    tmp_path: Path, clock: FakeClock, sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    async with fake_discord(clock) as fake:
        guilds = set_up_servers(fake)
        async with intake_processes(fake, sim, tmp_path) as processes:
            for process in processes:
                await process.expect("ready")
            asked = await ask_everywhere(fake, guilds)
            for process in processes:
                process.signal(signal.SIGTERM)
            assert [await process.wait() for process in processes] == [0, 0]

        # Every shard identified once, and within each bucket the two (one from each
        # process) came at least Discord's 5 seconds apart.
        assert sorted(i.shard_id for i in fake.identifies) == list(range(SHARDS))
        for bucket in range(MAX_CONCURRENCY):
            times = sorted(i.at for i in fake.identifies if i.shard_id % MAX_CONCURRENCY == bucket)
            gaps = [later - earlier for earlier, later in pairwise(times)]
            assert len(times) == 2 and all(gap >= 5.0 for gap in gaps), (bucket, gaps)

        # Each interaction went to its server's shard, and was recorded by that process.
        assert shards_that_got(fake, asked) == {**{g: [k] for k, g in enumerate(guilds)}, None: [0]}
        ledgers = [tmp_path / f"intake-{ids}.db" for ids in RANGES]
        recorded = [await tasks_in(path) for path in ledgers]
        assert [{t.target.workspace_id for t in tasks} for tasks in recorded] == [
            {str(guilds[0]), str(guilds[1]), "@me"},
            {str(guilds[2]), str(guilds[3])},
        ]

        # One REST-only sender (no gateway) delivers for both processes' tasks.
        budget = CountingBudget()
        sender = DiscordSender(discord_settings(fake, tmp_path / "data"), rest_budget=budget)
        identified = len(fake.identifies)
        async with serving(sender):
            for path in ledgers:
                async with SqliteLedger.open(path) as ledger:
                    await deliver(ledger, sender, sim, http, clock, tmp_path)
        assert len(fake.identifies) == identified
        delivered = [t for path in ledgers for t in await tasks_in(path)]
        assert_each_delivered_where_asked(fake, asked, delivered)
        assert budget.spent > 2 * len(asked)


async def tasks_in(path: Path) -> list[Task]:
    async with SqliteLedger.open(path) as ledger:
        return await ledger.find(TaskQuery(limit=100))
