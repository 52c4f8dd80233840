"""Per-user caps on PostgreSQL are checked inside the transaction that records the task
(storage/postgres/spend.py check_caps, the SQLite ledger's rules). READ COMMITTED lets two
concurrent inserts both pass a cap of one, so the check-and-insert runs under a per-user
advisory lock, released at commit."""

from __future__ import annotations

from typing import Any

import psycopg

from storage.postgres.schema import USER_LOCK_CLASS

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def lock_user(conn: Conn, user_key: str) -> None:
    """Serialise this user's check-and-insert with every other process's (in a transaction)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (USER_LOCK_CLASS, user_key)
    )
