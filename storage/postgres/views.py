"""A part of PgLedger: the media tasks still need (for retention), and the operator's views
beyond the Ledger port (history, user keys, counts by state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from storage.codec import from_ms, to_ms
from storage.postgres import statements as sql


class PgViews:
    _rows: Callable[..., Awaitable[list[tuple[Any, ...]]]]

    async def media_in_use(self, ended_since: datetime) -> frozenset[str]:
        rows = await self._rows(sql.MEDIA_IN_USE, {"since": to_ms(ended_since)})
        return frozenset(str(path) for (path,) in rows if path)

    async def history(self, task_id: str) -> list[tuple[datetime, str, str | None]]:
        rows = await self._rows(
            "SELECT at, state, detail FROM task_events WHERE task_id = %s ORDER BY id",
            (task_id,),
        )
        epoch = datetime.fromtimestamp(0, UTC)
        return [(from_ms(at) or epoch, state, detail) for at, state, detail in rows]

    async def user_keys_for(self, user_id: str) -> list[str]:
        """Every user key (platform:workspace:user) whose user part is `user_id`."""
        rows = await self._rows(
            "SELECT DISTINCT user_key FROM tasks WHERE right(user_key, %s) = %s",
            (len(user_id) + 1, ":" + user_id),
        )
        return [row[0] for row in rows]

    async def integrity_check(self) -> str:
        return "ok"  # PostgreSQL checks its own pages; the SQLite ledger's check has no twin

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._rows("SELECT state, COUNT(*) FROM tasks GROUP BY state")
        return {state: int(count) for state, count in rows}
