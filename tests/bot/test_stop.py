"""Stopping: `Worker.run` returns within its grace after stop is set, whatever the upstream is
doing (a submit that never answers, a 429 hold of minutes), and the ledger it leaves behind is
one recovery handles: a submit cut short becomes `unknown`, never a second POST."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.domain import TaskState
from bot.policy import WorkerPolicy
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, fake_clock_worker, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import Answer, ScriptedUpstream, scripted_upstream

GRACE = timedelta(seconds=0.5)
POLICY = replace(TEST_POLICY, stop_grace=GRACE, intake_quiet=timedelta(0))


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as running_upstream:
        yield running_upstream


@pytest.fixture
async def patient() -> AsyncIterator[httpx.AsyncClient]:
    """A client that would wait two minutes for an answer (longer than any stop may take)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0), trust_env=False) as client:
        yield client


def worker_for(
    upstream: ScriptedUpstream,
    http: httpx.AsyncClient,
    ledger: SqliteLedger,
    clock: FakeClock,
    tmp_path: Path,
    chat: FakeChat,
    policy: WorkerPolicy = POLICY,
) -> Worker:
    provider = make_provider(http, upstream.url)
    return fake_clock_worker(ledger, provider, chat, clock, tmp_path / "scratch", policy, 6)


async def stop_and_time(stop: asyncio.Event, runner: asyncio.Task[None]) -> float:
    loop = asyncio.get_running_loop()
    stop.set()
    started = loop.time()
    await asyncio.wait_for(runner, timeout=10)  # the bound SIGTERM must meet
    return loop.time() - started


async def test_stop_while_a_submit_hangs_returns_within_the_grace_and_never_resends(
    upstream: ScriptedUpstream,
    patient: httpx.AsyncClient,
    http: httpx.AsyncClient,
    ledger: SqliteLedger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    upstream.hang_submits = True
    chat = FakeChat()
    worker = worker_for(upstream, patient, ledger, clock, tmp_path, chat)
    service = VideoService(ledger, POLICY, clock.now, worker.wake)
    task, _ = await service.accept(t2v(), target(), "evt")
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(upstream.submit_seen.wait(), timeout=10)

    took = await stop_and_time(stop, runner)
    assert took < GRACE.total_seconds() + 4  # margin for a loaded machine; unfixed: 110 s
    cut = await ledger.get(task.ref)
    assert cut is not None and cut.state is TaskState.SUBMITTING  # as a crash leaves it
    assert await ledger.integrity_check() == "ok"

    upstream.hang_submits = False
    after = worker_for(upstream, http, ledger, clock, tmp_path, chat)
    assert await after.recover() == 1
    for _ in range(5):
        await after.step()
        clock.advance(1)
    ended = await ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNKNOWN
    assert upstream.submits == 1  # the paid request went out once


async def test_stop_during_a_long_429_hold_returns_within_the_grace(
    upstream: ScriptedUpstream,
    patient: httpx.AsyncClient,
    http: httpx.AsyncClient,
    ledger: SqliteLedger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    upstream.ids.append("t-held")
    held = Answer(
        429,
        {"error": {"type": "rate_limit_exceeded", "message": "slow down"}},
        {"Retry-After": "110"},
    )
    upstream.script("t-held", held)
    chat = FakeChat()
    worker = worker_for(upstream, patient, ledger, clock, tmp_path, chat)
    service = VideoService(ledger, POLICY, clock.now, worker.wake)
    task, _ = await service.accept(t2v(), target(), "evt")
    await worker.step()  # submitted
    clock.advance(10)  # the first poll is due
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(upstream.poll_seen.wait(), timeout=10)

    took = await stop_and_time(stop, runner)
    assert took < GRACE.total_seconds() + 4  # margin for a loaded machine; unfixed: 110 s
    row = await ledger.get(task.ref)
    assert row is not None and row.state is TaskState.SUBMITTED  # polled again after a restart
    assert row.provider_task_id == "t-held"

    upstream.script("t-held", upstream.done("t-held"))
    after = worker_for(upstream, http, ledger, clock, tmp_path, chat)
    assert await after.recover() == 0
    for _ in range(20):  # past the 110 s Retry-After: the row honours it across the restart
        await after.step()
        clock.advance(10)
    done = await ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert upstream.submits == 1 and len(chat.uploads) == 1
