"""Sharding across real processes on one PostgreSQL ledger: two `videobot run --role intake`
processes (shards 0-1 and 2-3 of 4, each with its own data folder, as on two machines) connect
to the fake Discord at once; IDENTIFYs of one bucket (shard_id % max_concurrency, 2 here) come
at least 5 s apart although each bucket's two shards are in different processes (the gate is
the database's); each server's interaction reaches the process running its shard, the DM's
the one running shard 0; one `videobot run --role worker` (no gateway) posts every video."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import asyncio
import contextlib
import json
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from bot.ledger import TaskQuery
from bot.task import Task
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import fake_discord
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.discord_shards import (
    MAX_CONCURRENCY,
    SHARDS,
    ask_everywhere,
    assert_each_delivered_where_asked,
    set_up_servers,
    shards_that_got,
)
from tests.pg import pg_databases, pg_ledger, pg_url
from tests.process_harness import READY_WITHIN, BotProcess, bot_process, clean_env
from tests.test_process_platforms import free_port

__all__ = ["pg_databases", "pg_url"]
RANGES = ("0-1", "2-3")
KEY = "sk-shards-test-key-0004"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))  # the fake's message times only


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimConfig(render_seconds=1.0, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


def role_env(
    tmp_path: Path, name: str, fake: FakeDiscord, sim: RunningSimulator, pg_url: str, **extra: str
) -> dict[str, str]:
    return clean_env(
        tmp_path,
        {
            "DISCORD_TOKEN": p.BOT_TOKEN,
            "DISCORD_API_URL": fake.api_url,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "VIDEO_API_URL": sim.url,
            "VIDEO_API_KEY": KEY,
            "VIDEOBOT_DATABASE_URL": pg_url,
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "true",
            "VIDEOBOT_DISCORD_SHARDS": str(SHARDS),
            "VIDEOBOT_FIRST_POLL": "1",
            "VIDEOBOT_LOG_LEVEL": "INFO",
            # A data folder each, as on machines apart: no lock file can space their
            # IDENTIFYs, only the database.
            "VIDEOBOT_DATA_DIR": str(tmp_path / name),
            **extra,
        },
    )


async def discord_up(port: int) -> None:
    """Until the process's /healthz reports Discord up (its shards are ready), bounded."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        async with asyncio.timeout(READY_WITHIN):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    answer = await client.get(f"http://127.0.0.1:{port}/healthz")
                    if json.loads(answer.text).get("platforms", {}).get("discord") == "up":
                        return
                await asyncio.sleep(0.2)  # polling a probe; nothing passes by waiting


@contextlib.asynccontextmanager
async def intakes(
    fake: FakeDiscord, sim: RunningSimulator, pg_url: str, tmp_path: Path
) -> AsyncIterator[list[BotProcess]]:
    async with contextlib.AsyncExitStack() as stack:
        processes, ports = [], []
        for ids in RANGES:
            port = free_port()
            env = role_env(tmp_path, f"intake-{ids}", fake, sim, pg_url,
                           VIDEOBOT_DISCORD_SHARD_IDS=ids,
                           VIDEOBOT_METRICS_PORT=str(port))  # fmt: skip
            args = ["run", "--role", "intake"]
            processes.append(await stack.enter_async_context(bot_process(args, tmp_path, env)))
            ports.append(port)
        await asyncio.gather(*(discord_up(port) for port in ports))
        yield processes


def delivered(fake: FakeDiscord) -> int:
    return sum(
        any(a["filename"].endswith(".mp4") for a in m["attachments"])
        for m in fake.messages.values()
    )


async def test_four_shards_in_two_intakes_and_one_worker_posting_for_all(
    tmp_path: Path, clock: FakeClock, live_sim: RunningSimulator, pg_url: str
) -> None:
    async with fake_discord(clock) as fake:
        guilds = set_up_servers(fake)
        async with intakes(fake, live_sim, pg_url, tmp_path) as processes:
            asked = await ask_everywhere(fake, guilds)
            identified = len(fake.identifies)
            env = role_env(tmp_path, "worker", fake, live_sim, pg_url)
            async with bot_process(["run", "--role", "worker"], tmp_path, env) as worker:
                await worker.expect("videobot running (worker)", stderr=True)
                await fake.wait_for(lambda: delivered(fake) >= len(asked), READY_WITHIN)
                for process in (*processes, worker):
                    process.signal(signal.SIGTERM)
                codes = [await process.wait() for process in (*processes, worker)]
        logs = [process.stderr() for process in processes]
        assert codes == [0, 0, 0], "\n".join([*logs, worker.stderr()])

    # Every shard identified once, and within each bucket the two (one from each process)
    # came at least Discord's 5 seconds apart; the worker opened no gateway.
    assert sorted(i.shard_id for i in fake.identifies) == list(range(SHARDS))
    assert len(fake.identifies) == identified
    for bucket in range(MAX_CONCURRENCY):
        times = sorted(i.at for i in fake.identifies if i.shard_id % MAX_CONCURRENCY == bucket)
        gaps = [later - earlier for earlier, later in pairwise(times)]
        assert len(times) == 2 and all(gap >= 5.0 for gap in gaps), (bucket, gaps)

    # Each interaction went to its server's shard and was recorded by the process holding it.
    assert shards_that_got(fake, asked) == {**{g: [k] for k, g in enumerate(guilds)}, None: [0]}
    tasks = await tasks_in(pg_url)
    by_process = [accepted_refs(log) for log in logs]
    assert [{t.target.workspace_id for t in tasks if t.ref in refs} for refs in by_process] == [
        {str(guilds[0]), str(guilds[1]), "@me"},
        {str(guilds[2]), str(guilds[3])},
    ]
    # The one worker moved and delivered them all; the intakes none.
    assert_each_delivered_where_asked(fake, asked, tasks)
    assert all(f"task {t.ref} submitted as" in worker.stderr() for t in tasks)
    assert not any("submitted as" in log for log in logs)


def accepted_refs(log: str) -> set[str]:
    return set(re.findall(r"task (\S+) accepted:", log))


async def tasks_in(url: str) -> list[Task]:
    async with pg_ledger(url) as ledger:
        return await ledger.find(TaskQuery(limit=100))
