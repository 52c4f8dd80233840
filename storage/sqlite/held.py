"""Held requests in the SQLite ledger (storage/held.py): every write through the one writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.task import Task
from storage.codec import from_ms, to_ms
from storage.held import held_body, held_task


class SqliteHeld:
    """The Ledger port's held-request methods (a part of SqliteLedger)."""

    _rows: Callable[[str, tuple[Any, ...]], Awaitable[list[Any]]]
    _write: Callable[[str, tuple[Any, ...], int | None], Awaitable[int]]

    async def hold(self, ref: str, task: Task, expires_at: datetime, now: datetime) -> str:
        await self._write("DELETE FROM held_requests WHERE expires_at <= ?", (to_ms(now),), 3)
        await self._write(
            "INSERT INTO held_requests (ref, idem_key, expires_at, body) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (idem_key) DO NOTHING",
            (ref, task.idem_key, to_ms(expires_at), held_body(task)),
            3,
        )
        found = await self._rows(
            "SELECT ref FROM held_requests WHERE idem_key = ?", (task.idem_key,)
        )
        return str(found[0][0]) if found else ref

    async def held(self, ref: str, now: datetime) -> tuple[Task, datetime] | None:
        found = await self._rows(
            "SELECT body, expires_at FROM held_requests WHERE ref = ? AND expires_at > ?",
            (ref, to_ms(now)),
        )
        if not found:
            return None
        expires = from_ms(found[0][1])
        assert expires is not None
        return held_task(found[0][0]), expires

    async def unhold(self, ref: str) -> None:
        await self._write("DELETE FROM held_requests WHERE ref = ?", (ref,), 3)
