"""The client-wide 429 hold seen from the worker: a task waits for capacity while it is still
`accepted` (never in `submitting`, which a restart would call possibly billed), Retry-After
decides when it goes out, and a step that meets a long hold ends at once (so a stopping
process is never kept alive by one)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.simulator.server import RunningSimulator
from bot.domain import TaskState
from bot.errors import RateLimited
from bot.ledger import TaskQuery
from bot.ports import ProviderState
from bot.worker import Worker
from tests.adapters.provider.test_client import knobs, state
from tests.conftest import (
    SIM_KEY,
    TEST_POLICY,
    Engine,
    EngineFactory,
    loopback_fetcher,
    make_provider,
    t2v,
    target,
)
from tests.fakes.clock import FakeClock

HOLD = 100.0  # seconds: far beyond the submitter's plain back-off (2 s base, jittered)


async def _bounded_step(worker: Worker) -> None:
    """One worker step that must end promptly, by itself or (as when the process stops) when
    cancelled: a stopping process waits for its steps."""
    step = asyncio.create_task(worker.step())
    done, _ = await asyncio.wait({step}, timeout=0.5)
    if not done:
        step.cancel()
        await asyncio.wait({step}, timeout=1.0)
    assert step.done(), "the step was still running a second after it was cancelled"


async def _held(engine: Engine, http: httpx.AsyncClient) -> None:
    """One task meets a 429 with a long Retry-After: the client is now on hold."""
    await knobs(http, engine.sim, rate_429=1.0, retry_after=HOLD)
    await engine.service.accept(t2v("first boat"), target(), "evt-first")
    await _bounded_step(engine.worker)
    await knobs(http, engine.sim, rate_429=0.0)
    assert engine.provider.rate_limited == 1


async def test_a_429_on_submit_requeues_the_task_for_its_retry_after_not_plain_backoff(
    make_engine: EngineFactory, http: httpx.AsyncClient
) -> None:
    engine = make_engine()
    await _held(engine, http)
    rows = {t.request.prompt: t for t in await engine.ledger.find(TaskQuery(limit=100))}
    first = rows["first boat"]
    now = engine.clock.now()
    assert first.state is TaskState.ACCEPTED, first.state
    assert first.next_check_at is not None
    assert first.next_check_at >= now + timedelta(seconds=HOLD - 1), first.next_check_at - now

    # Well past any plain back-off but inside the hold: nothing leaves, nothing is created.
    sent = (await state(http, engine.sim))["requests"]
    engine.clock.advance(HOLD / 2)
    await _bounded_step(engine.worker)
    assert (await state(http, engine.sim))["requests"] == sent
    assert (await state(http, engine.sim))["tasks_created"] == 0


async def test_a_task_held_by_a_429_is_never_submitting_and_goes_out_once_after_a_restart(
    make_engine: EngineFactory, http: httpx.AsyncClient
) -> None:
    engine = make_engine()
    await _held(engine, http)
    second, _ = await engine.service.accept(t2v("second boat"), target("U2"), "evt-second")

    # The step meets the hold. It must end promptly (a stopping process waits for it), and
    # whether it ends by itself or is cancelled there, the task was never sent: not
    # `submitting`, which recovery would turn into "possibly billed".
    await _bounded_step(engine.worker)
    held = await engine.ledger.get(second.ref)
    assert held is not None
    assert held.state is TaskState.ACCEPTED, held.state
    assert held.next_check_at is not None

    # The process dies here; a new one (a fresh client, no hold in memory) recovers the
    # ledger: nothing was interrupted mid-submit, so nothing is called possibly billed.
    restarted = Worker(
        engine.ledger,
        make_provider(http, engine.sim.url),
        {"test": engine.chat},
        TEST_POLICY,
        engine.clock.now,
        scratch_dir=engine.worker._deliverer._scratch,  # noqa: SLF001
    )
    assert await restarted.recover() == 0
    engine.clock.advance(HOLD + 5)
    await asyncio.wait_for(restarted.step(), 5)
    rows = {t.request.prompt: t for t in await engine.ledger.find(TaskQuery(limit=100))}
    assert {p: t.state for p, t in rows.items()} == {
        "first boat": TaskState.SUBMITTED,
        "second boat": TaskState.SUBMITTED,
    }
    snap = await state(http, engine.sim)
    assert snap["submits_by_prompt"] == {"first boat": 1, "second boat": 1}
    assert snap["tasks_created"] == 2


async def test_a_poll_that_meets_a_long_hold_ends_its_step_at_once_and_comes_back_after_it(
    make_engine: EngineFactory, http: httpx.AsyncClient
) -> None:
    engine = make_engine()
    task, _ = await engine.service.accept(t2v("polled boat"), target(), "evt-polled")
    await _bounded_step(engine.worker)
    await knobs(http, engine.sim, rate_429=1.0, retry_after=HOLD)
    engine.clock.advance(TEST_POLICY.first_poll.total_seconds())

    step = asyncio.create_task(engine.worker.step())
    done, _ = await asyncio.wait({step}, timeout=1.0)
    step.cancel()  # what a stopping worker would do; a no-op once the step has ended
    assert done, "a poll step sat in a 100 s hold"
    polled = await engine.ledger.get(task.ref)
    assert polled is not None and polled.state is TaskState.SUBMITTED
    assert polled.next_check_at is not None
    assert polled.next_check_at >= engine.clock.now() + timedelta(seconds=HOLD - 1)
    assert (await state(http, engine.sim))["responses_429"] == 1  # one 429, then no more asks


async def test_a_submit_cancelled_before_its_post_left_leaves_the_task_accepted(
    make_engine: EngineFactory, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """One connection, busy with a slow poll: the submit waits for it. The process stops
    (the step is cancelled) while it waits: nothing was sent, so the task must stay re-queueable
    rather than `submitting`, which recovery would report as possibly billed."""
    engine = make_engine()
    await engine.service.accept(t2v("slow poll"), target(), "evt-slow")
    await _bounded_step(engine.worker)
    await knobs(http, engine.sim, latency=3.0)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(10.0)) as one:
        worker = Worker(
            engine.ledger,
            make_provider(one, engine.sim.url),
            {"test": engine.chat},
            TEST_POLICY,
            engine.clock.now,
            scratch_dir=tmp_path / "scratch",
        )
        waiting, _ = await engine.service.accept(t2v("queued boat"), target("U2"), "evt-q")
        engine.clock.advance(TEST_POLICY.first_poll.total_seconds())
        step = asyncio.create_task(worker.step())
        await asyncio.sleep(0.5)  # the poll holds the connection; the submit waits for it
        step.cancel()
        await asyncio.wait({step}, timeout=1.0)
        assert step.done()
    await knobs(http, engine.sim, latency=0.0)
    task = await engine.ledger.get(waiting.ref)
    assert task is not None
    assert task.state is TaskState.ACCEPTED, task.state
    assert (await state(http, engine.sim))["submits_by_prompt"] == {"slow poll": 1}
    assert await worker.recover() == 0


async def test_the_hold_runs_on_the_injected_clock_so_tests_need_not_sleep(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    p = HttpProvider(
        http,
        DIALECTS["guide"],
        base_url=sim.url,
        api_key=SIM_KEY,
        model="gemini_omni_flash",
        attempts=1,
        monotonic=clock.monotonic,
        fetcher=loopback_fetcher(),
    )
    await knobs(http, sim, rate_429=1.0, retry_after=HOLD)
    with pytest.raises(RateLimited):
        await p.fetch("task_x")
    await knobs(http, sim, rate_429=0.0)
    assert p.held_for() == timedelta(seconds=HOLD)
    clock.advance(HOLD - 30)
    with pytest.raises(RateLimited) as held:  # at once, nothing sent
        await p.submit(t2v(), "t-1", wait=False)
    assert held.value.retry_after == timedelta(seconds=30)
    assert (await state(http, sim))["requests"] == 1
    clock.advance(30)
    assert p.held_for() == timedelta(0)
    assert (await p.fetch(await p.submit(t2v(), "t-1"))).state is ProviderState.QUEUED
