"""Discord and time: the 3-second acknowledgement while the upstream hangs, and a task that
outlives the 15-minute interaction token."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import asyncio
import time
from datetime import timedelta
from pathlib import Path

import httpx

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import start_simulator
from bot.domain import TaskState
from bot.policy import WorkerPolicy
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import SIM_KEY, TEST_POLICY
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import discord_bot


async def test_defer_within_a_second_while_the_simulator_hangs(
    tmp_path: Path, clock: FakeClock, ledger: SqliteLedger, http: httpx.AsyncClient
) -> None:
    """D-01: the real worker loop is running and stuck in a 3 s submit (longer than Discord
    allows); /video is still acknowledged at once: the handler records the request and returns."""
    hanging = await start_simulator(
        SimConfig(submit_latency=3, api_key=SIM_KEY), clock=clock.monotonic
    )
    try:
        async with discord_bot(
            tmp_path, clock, hanging, ledger=ledger, http=http, policy=TEST_POLICY
        ) as bot:
            stop = asyncio.Event()
            working = asyncio.create_task(bot.worker.run(stop))
            try:
                first = p.slash("video", [p.option("prompt", "a first video")])
                await bot.fake.interact(first)
                await bot.fake.wait_for(lambda: len(bot.fake.followups) == 1)
                task = await bot.only_task()
                await _until_submitting(bot.ledger, task.ref)  # the upstream now hangs

                second = p.slash("video", [p.option("prompt", "a second video")])
                started = time.monotonic()
                await bot.fake.interact(second)
                await bot.fake.wait_for(lambda: bot.fake.callback_for(second) is not None)
                assert time.monotonic() - started < 1.0
                await bot.fake.wait_for(lambda: len(bot.fake.followups) == 2)
                assert (await bot.ledger.get(task.ref)).state is TaskState.SUBMITTING  # type: ignore[union-attr]
            finally:
                working.cancel()
                await asyncio.gather(working, return_exceptions=True)
    finally:
        await hanging.close()


async def _until_submitting(ledger: SqliteLedger, ref: str) -> None:
    async with asyncio.timeout(5):
        while (task := await ledger.get(ref)) is None or task.state is not TaskState.SUBMITTING:  # noqa: ASYNC110  (the ledger has no change event to wait on; bounded by the timeout)
            await asyncio.sleep(0.01)


async def test_a_40_minute_task_is_delivered_through_the_channel_api(
    tmp_path: Path, clock: FakeClock, ledger: SqliteLedger, http: httpx.AsyncClient
) -> None:
    """D-05: the interaction token dies after 15 minutes (the fake enforces it on the fake
    clock); status edits and the MP4 go through the channel API, so 40 minutes is fine."""
    slow = await start_simulator(
        SimConfig(render_seconds=40 * 60, queue_seconds=5, api_key=SIM_KEY, seed=7),
        clock=clock.monotonic,
    )
    policy = WorkerPolicy(
        concurrency=4,
        task_deadline=timedelta(hours=2),
        first_poll=timedelta(seconds=5),
        poll_floor=timedelta(seconds=5),
        poll_ceiling=timedelta(seconds=60),
        status_interval=timedelta(seconds=0),
    )
    try:
        async with discord_bot(
            tmp_path, clock, slow, ledger=ledger, http=http, policy=policy
        ) as bot:
            await bot.fake.interact(p.slash("video", [p.option("prompt", "a slow sunrise")]))
            await bot.fake.wait_for(lambda: len(bot.fake.followups) == 1)
            started = clock.now()
            await bot.run_until_idle(step_seconds=30)

            task = await bot.only_task()
            assert task.state is TaskState.DELIVERED
            assert clock.now() - started > timedelta(minutes=40)
            (posted,) = bot.fake.in_channel(task.status_message_id or "")
            assert posted["attachments"] and "a slow sunrise" in posted["content"]
            edits = bot.fake.edits[task.status_message_id or ""]
            assert edits[-1]["embeds"][0]["title"] == "✅ Done"
            webhooks = [r for r in bot.fake.requests if r[1].startswith("/api/v10/webhooks/")]
            assert len(webhooks) == 1  # only the immediate ephemeral answer used the token
    finally:
        await slow.close()
