"""The provider's render slots on PostgreSQL, shared by every worker process: a task about to
be sent holds a row here until it is at the provider (then its state counts it) or the hold
lapses with its holder. The count and the hold are one transaction under an advisory lock, so
two processes never both take the last slot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.domain import AT_PROVIDER_STATES
from storage.codec import to_ms
from storage.postgres.schema import SLOT_LOCK

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_AT = sorted(s.value for s in AT_PROVIDER_STATES)
BUSY = (
    "SELECT (SELECT COUNT(*) FROM tasks WHERE state = ANY(%(at)s))"
    " + (SELECT COUNT(*) FROM provider_slots s JOIN tasks t USING (task_id)"
    "    WHERE s.task_id <> %(task)s AND t.state <> ALL(%(at)s))"
)


class PgSlots:
    """The Ledger port's slot methods (a part of PgLedger)."""

    _pool: AsyncConnectionPool[Conn]

    async def take_slot(self, task_id: str, cap: int, now: datetime, until: datetime) -> bool:
        params = {"task": task_id, "at": _AT, "now": to_ms(now), "until": to_ms(until)}
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SLOT_LOCK,))
            await conn.execute("DELETE FROM provider_slots WHERE until <= %(now)s", params)
            held = await conn.execute(
                "UPDATE provider_slots SET until = %(until)s WHERE task_id = %(task)s", params
            )
            if held.rowcount == 1:
                return True
            row = await (await conn.execute(BUSY, params)).fetchone()
            if row is None or int(row[0]) >= cap:
                return False
            await conn.execute(
                "INSERT INTO provider_slots (task_id, until) VALUES (%(task)s, %(until)s)", params
            )
            return True

    async def release_slot(self, task_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM provider_slots WHERE task_id = %s", (task_id,))
