"""The worker wakes on a provider callback: `Worker.hurry` makes the task due at once (no
waiting for the safety-net poll), the poll decides, and a callback that lands while the task's
own step is in flight is not lost. Real simulator on a fake clock, real ledger file."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.domain import TaskState
from bot.ports import ProviderStatus
from bot.task import Task
from tests.conftest import TEST_POLICY, Engine, EngineFactory, t2v, target

# Callbacks on: polls are only the safety net, two minutes apart.
CALLBACK_POLICY = replace(TEST_POLICY, callback_poll=timedelta(seconds=120))
RENDER_ENDS = 22.0  # the conftest simulator: 2 s queued + 20 s rendering


async def _submitted(engine: Engine) -> Task:
    task, _ = await engine.service.accept(t2v(), target(), "evt-hurry")
    await engine.worker.step()
    stored = await engine.ledger.get(task.task_id)
    assert stored is not None and stored.state is TaskState.SUBMITTED
    assert stored.provider_task_id is not None
    return stored


async def test_with_callbacks_on_the_first_poll_waits_for_the_safety_net(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    task = await _submitted(engine)
    assert task.next_check_at == engine.clock.now() + timedelta(seconds=120)
    engine.clock.advance(RENDER_ENDS + 1)
    assert await engine.worker.step() == 0  # finished upstream, but nobody asked yet


async def test_a_callback_makes_the_task_due_and_the_poll_delivers_it(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    task = await _submitted(engine)
    engine.clock.advance(RENDER_ENDS + 0.5)
    assert task.provider_task_id is not None

    assert await engine.worker.hurry(task.provider_task_id)
    assert await engine.worker.step() == 1  # the poll, at once
    await engine.worker.step()  # the delivery it started ends in the same or next step
    done = await engine.ledger.get(task.task_id)
    assert done is not None and done.state is TaskState.DELIVERED
    assert len(engine.chat.uploads) == 1
    assert engine.sim.simulator.stats.polls_by_task[task.provider_task_id] == 1


async def test_a_callback_before_the_end_costs_one_poll_and_changes_nothing(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    task = await _submitted(engine)
    engine.clock.advance(5)
    assert task.provider_task_id is not None

    assert await engine.worker.hurry(task.provider_task_id)  # a forged or early callback
    assert await engine.worker.step() == 1
    after = await engine.ledger.get(task.task_id)
    assert after is not None and after.state is TaskState.RUNNING  # the poll decided
    assert after.next_check_at == engine.clock.now() + timedelta(seconds=120)
    assert await engine.worker.step() == 0


async def test_an_unknown_or_finished_task_is_not_hurried(make_engine: EngineFactory) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    task = await _submitted(engine)
    assert not await engine.worker.hurry("task_not_ours")
    engine.clock.advance(RENDER_ENDS + 1)
    assert task.provider_task_id is not None
    await engine.worker.hurry(task.provider_task_id)
    await engine.worker.step()
    await engine.worker.step()
    assert not await engine.worker.hurry(task.provider_task_id)  # delivered: nothing to ask
    assert await engine.worker.step() == 0


async def test_a_callback_during_the_tasks_own_poll_is_kept_for_after_it(
    make_engine: EngineFactory,
) -> None:
    """The poll in flight was answered `running` just before the render ended; the callback
    that says it ended lands before that poll's step is saved. The next step polls again."""
    engine = make_engine(policy=CALLBACK_POLICY)
    task = await _submitted(engine)
    assert task.provider_task_id is not None
    answered, release = asyncio.Event(), asyncio.Event()
    fetch = engine.provider.fetch

    async def slow_fetch(provider_task_id: str) -> ProviderStatus:
        status = await fetch(provider_task_id)
        answered.set()
        await release.wait()
        return status

    engine.provider.fetch = slow_fetch  # type: ignore[method-assign]
    engine.clock.advance(120)  # the safety-net poll falls due ...
    engine.sim.simulator.tasks[task.provider_task_id].render_seconds = 130.0  # ... mid-render
    stepping = asyncio.create_task(engine.worker.step())
    await answered.wait()
    engine.clock.advance(15)  # the render ends while that answer travels
    assert await engine.worker.hurry(task.provider_task_id)
    release.set()
    assert await stepping == 1
    mid = await engine.ledger.get(task.task_id)
    assert mid is not None and mid.state is TaskState.RUNNING
    assert mid.next_check_at == engine.clock.now()  # due again, not in two minutes
    engine.provider.fetch = fetch  # type: ignore[method-assign]
    assert await engine.worker.step() == 1
    await engine.worker.step()
    done = await engine.ledger.get(task.task_id)
    assert done is not None and done.state is TaskState.DELIVERED
