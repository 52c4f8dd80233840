"""Reads after a write see the write: the shared read connection never serves a snapshot older
than a write that has already been acknowledged, however many reads run at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.domain import new_ref, new_task_id
from bot.ledger import TaskQuery
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0, accepted
from tests.conftest import target


def _task(i: int) -> Task:
    return replace(
        accepted(),
        task_id=new_task_id(),
        ref=new_ref(),
        idem_key=f"read-after-write-{i}",
        target=target(f"U{i % 7}"),
    )


async def test_every_read_after_an_acknowledged_write_sees_it(ledger: SqliteLedger) -> None:
    tasks = [(await ledger.add(_task(i)))[0] for i in range(50)]
    stale: list[str] = []
    rounds = 10

    async def mover(task: Task) -> None:
        # Each round: a guarded write, acknowledged, then reads that must all see it.
        for n in range(rounds):
            at = T0 + timedelta(seconds=n + 1)
            saved = await ledger.save(task, task.rescheduled(at, at))
            assert saved is not None, f"{task.ref} lost its own write in round {n}"
            by_ref = await ledger.get(saved.ref)
            if by_ref is None or by_ref.version < saved.version:
                stale.append(f"get {saved.ref} v{saved.version}")
            mine = await ledger.find(TaskQuery(user_key=saved.target.user_key, limit=100))
            seen = {t.task_id: t.version for t in mine}
            if seen.get(saved.task_id, -1) < saved.version:
                stale.append(f"find {saved.ref} v{saved.version}")
            task = saved

    async def browser(stop: asyncio.Event) -> None:
        # Readers that never write keep the shared connection busy the whole time.
        while not stop.is_set():
            await ledger.due(T0 + timedelta(days=1), 64, frozenset())
            await ledger.count_by_state()

    stop = asyncio.Event()
    browsers = [asyncio.create_task(browser(stop)) for _ in range(8)]
    try:
        await asyncio.gather(*(mover(t) for t in tasks))
    finally:
        stop.set()
        await asyncio.gather(*browsers)
    reads = len(tasks) * rounds * 2
    assert stale == [], f"{len(stale)} stale of {reads} reads: {stale[:5]}"
