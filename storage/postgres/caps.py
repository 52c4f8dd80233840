"""Per-user caps on PostgreSQL, checked inside the transaction that records the task. READ
COMMITTED lets two concurrent inserts both pass a cap of one, so the check-and-insert runs under
a per-user advisory lock, released at commit; anything else that must be decided per user
before recording (a budget reservation) belongs under the same lock."""

from __future__ import annotations

from typing import Any

import psycopg

from bot.errors import QuotaExceeded
from bot.ports import UserLimits
from bot.task import Task
from storage.codec import to_ms
from storage.postgres import statements as sql
from storage.postgres.schema import USER_LOCK_CLASS

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def lock_user(conn: Conn, user_key: str) -> None:
    """Serialise this user's check-and-insert with every other process's (in a transaction)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (USER_LOCK_CLASS, user_key)
    )


async def check_limits(conn: Conn, task: Task, limits: UserLimits) -> None:
    """Raise QuotaExceeded when the user is at one of `limits` (under lock_user)."""
    user = task.target.user_key
    if limits.concurrent is not None:
        cur = await conn.execute(sql.CONCURRENT, (user,))
        live = await cur.fetchone()
        if live is not None and live[0] >= limits.concurrent:
            raise QuotaExceeded("concurrent limit", "concurrent", limits.concurrent)
    if limits.daily is not None:
        cur = await conn.execute(sql.DAILY, (user, to_ms(limits.day_start)))
        today = await cur.fetchone()
        if today is not None and today[0] >= limits.daily:
            raise QuotaExceeded("daily limit", "daily", limits.daily)
