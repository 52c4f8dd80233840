"""The provider's render slots (VIDEOBOT_PROVIDER_CONCURRENCY), on both backends: a hold and
its check are one step, a task at the provider counts by its state, a released or lapsed hold
frees its slot. On PostgreSQL, holders in separate processes (pools) share the cap."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta

from bot.domain import TaskState, new_ref, new_task_id
from bot.ledger import Ledger
from bot.task import Task
from tests.bot.test_domain import T0, accepted
from tests.pg import pg_ledger

LEASE = timedelta(seconds=60)


async def _recorded(ledger: Ledger, n: int) -> list[Task]:
    tasks = [
        replace(accepted(), task_id=new_task_id(), ref=new_ref(), idem_key=f"slot-{i}")
        for i in range(n)
    ]
    for task in tasks:
        await ledger.add(task)
    return tasks


async def test_concurrent_holders_take_only_the_free_slots(ledger: Ledger) -> None:
    tasks = await _recorded(ledger, 6)
    taken = await asyncio.gather(
        *(ledger.take_slot(t.task_id, 2, T0, T0 + LEASE) for t in tasks)
    )
    assert sum(taken) == 2
    holder = tasks[taken.index(True)]
    assert await ledger.take_slot(holder.task_id, 2, T0, T0 + LEASE)  # a holder renews


async def test_a_task_at_the_provider_counts_and_a_released_hold_frees_its_slot(
    ledger: Ledger,
) -> None:
    first, second, third = await _recorded(ledger, 3)
    assert await ledger.take_slot(first.task_id, 2, T0, T0 + LEASE)
    sent = await ledger.save(first, replace(first, state=TaskState.SUBMITTING))
    assert sent is not None
    await ledger.release_slot(first.task_id)  # at the provider now: its state counts it
    assert await ledger.take_slot(second.task_id, 2, T0, T0 + LEASE)
    assert not await ledger.take_slot(third.task_id, 2, T0, T0 + LEASE)
    await ledger.release_slot(second.task_id)  # back in the queue: the slot is free again
    assert await ledger.take_slot(third.task_id, 2, T0, T0 + LEASE)


async def test_a_lapsed_hold_frees_its_slot(ledger: Ledger) -> None:
    first, second = await _recorded(ledger, 2)
    assert await ledger.take_slot(first.task_id, 1, T0, T0 + LEASE)
    assert not await ledger.take_slot(second.task_id, 1, T0 + LEASE / 2, T0 + LEASE)
    later = T0 + LEASE + timedelta(seconds=1)  # its holder died: the hold lapsed
    assert await ledger.take_slot(second.task_id, 1, later, later + LEASE)


async def test_holders_in_ten_processes_share_a_cap_of_three(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        ledgers = [await stack.enter_async_context(pg_ledger(pg_url)) for _ in range(10)]
        tasks = await _recorded(ledgers[0], 10)
        taken = await asyncio.gather(
            *(
                lg.take_slot(t.task_id, 3, T0, T0 + LEASE)
                for lg, t in zip(ledgers, tasks, strict=True)
            )
        )
    assert sum(taken) == 3
