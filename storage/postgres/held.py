"""Held requests in the PostgreSQL ledger (storage/held.py), shared by every intake process:
a Confirm pressed on any replica finds the request another one holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.task import Task
from storage.codec import from_ms, to_ms
from storage.held import held_body, held_task

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PgHeld:
    """The Ledger port's held-request methods (a part of PgLedger)."""

    _pool: AsyncConnectionPool[Conn]

    async def hold(self, ref: str, task: Task, expires_at: datetime, now: datetime) -> str:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM held_requests WHERE expires_at <= %s", (to_ms(now),))
            await conn.execute(
                "INSERT INTO held_requests (ref, idem_key, expires_at, body)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (idem_key) DO NOTHING",
                (ref, task.idem_key, to_ms(expires_at), held_body(task)),
            )
            cur = await conn.execute(
                "SELECT ref FROM held_requests WHERE idem_key = %s", (task.idem_key,)
            )
            found = await cur.fetchone()
        return str(found[0]) if found else ref

    async def held(self, ref: str, now: datetime) -> tuple[Task, datetime] | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT body, expires_at FROM held_requests WHERE ref = %s AND expires_at > %s",
                (ref, to_ms(now)),
            )
            found = await cur.fetchone()
        if found is None:
            return None
        expires = from_ms(found[1])
        assert expires is not None
        return held_task(found[0]), expires

    async def unhold(self, ref: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM held_requests WHERE ref = %s", (ref,))
