"""Claims as leases on the SQLite ledger. One process owns the file, so a claim is the `due`
read and then one version-guarded write per row (all in one group commit): a row that moved
meanwhile is simply not claimed. The lease token is the lease's end, in milliseconds."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.task import Task
from storage.codec import to_ms

if TYPE_CHECKING:
    from storage.sqlite.ledger import SqliteLedger

CLAIM = "UPDATE tasks SET version = version + 1, lease_until = ? WHERE task_id = ? AND version = ?"
RENEW = "UPDATE tasks SET lease_until = ? WHERE task_id = ? AND lease_until = ?"
RELEASE = "UPDATE tasks SET lease_until = NULL WHERE task_id = ? AND lease_until = ?"
DROP = "UPDATE tasks SET lease_until = NULL WHERE lease_until IS NOT NULL"
ATTEMPTS = 3


async def claim(ledger: SqliteLedger, now: datetime, limit: int, lease: timedelta) -> list[Task]:
    until = now + lease
    due = await ledger.due(now, limit, frozenset())
    params = [(to_ms(until), t.task_id, t.version) for t in due]
    counts = await asyncio.gather(*(ledger._write(CLAIM, p, ATTEMPTS) for p in params))
    return [
        replace(task, version=task.version + 1)
        for task, count in zip(due, counts, strict=True)
        if count == 1
    ]


async def renew(ledger: SqliteLedger, task_id: str, held_until: datetime, until: datetime) -> bool:
    params = (to_ms(until), task_id, to_ms(held_until))
    return await ledger._write(RENEW, params, ATTEMPTS) == 1


async def release(ledger: SqliteLedger, task_id: str, held_until: datetime) -> None:
    await ledger._write(RELEASE, (task_id, to_ms(held_until)), ATTEMPTS)
