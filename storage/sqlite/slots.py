"""The provider's render slots for the SQLite ledger. One process holds a ledger file (its lock),
so the holds live in memory; the tasks' states come from the file. A lock makes each check and
hold one step among this process's concurrent submits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.domain import AT_PROVIDER_STATES

Scalar = Callable[[str, tuple[Any, ...]], Awaitable[Any]]
AT_PROVIDER = ", ".join(f"'{s.value}'" for s in sorted(AT_PROVIDER_STATES))


class LocalSlots:
    def __init__(self, scalar: Scalar) -> None:
        self._scalar = scalar
        self._held: dict[str, datetime] = {}  # task id -> held until
        self._lock = asyncio.Lock()

    async def take(self, task_id: str, cap: int, now: datetime, until: datetime) -> bool:
        async with self._lock:
            self._held = {t: u for t, u in self._held.items() if u > now}
            if task_id not in self._held and await self._busy() >= cap:
                return False
            self._held[task_id] = until
            return True

    def release(self, task_id: str) -> None:
        self._held.pop(task_id, None)

    async def _busy(self) -> int:
        """Tasks at the provider, and tasks holding a slot not there yet: one statement, so
        a task moving to the provider between two reads is neither missed nor counted twice."""
        marks = ", ".join("?" * len(self._held))
        held = f" OR task_id IN ({marks})" if self._held else ""
        sql = f"SELECT COUNT(*) FROM tasks WHERE state IN ({AT_PROVIDER}){held}"
        return int(await self._scalar(sql, tuple(self._held)))
