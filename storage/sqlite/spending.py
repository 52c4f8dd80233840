"""Parts of SqliteLedger: its spending methods (the SQL in storage/sqlite/budgets.py) and the
operator's views beyond the Ledger port (history, user keys, counts by state)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bot.ledger import Budget, SpendLine, SpendQuery
from storage import spend_rules as budgets
from storage.codec import from_ms
from storage.sqlite.writer import GroupWriter


class SqliteSpending:
    _rows: Callable[..., Awaitable[list[Any]]]
    _writer: GroupWriter

    async def set_budgets(self, stored: list[Budget]) -> None:
        # One transaction: no moment without budgets, and a failure leaves the old ones.
        await self._writer.transaction(budgets.replacing(stored))

    async def seed_budgets(self, stored: list[Budget]) -> bool:
        before = await self._rows(budgets.SELECT_SEED)
        await self._writer.transaction(budgets.seeding(stored))
        return not before or before[0][0] != budgets.seed_of(stored)

    async def budgets(self) -> list[Budget]:
        return [budgets.read_budget(r) for r in await self._rows(budgets.SELECT_BUDGETS)]

    async def spend(self, query: SpendQuery) -> list[SpendLine]:
        return [budgets.spend_line(r) for r in await self._rows(*budgets.spend_statement(query))]


class SqliteViews:
    _rows: Callable[..., Awaitable[list[Any]]]

    async def history(self, task_id: str) -> list[tuple[datetime, str, str | None]]:
        rows = await self._rows(
            "SELECT at, state, detail FROM task_events WHERE task_id = ? ORDER BY rowid",
            (task_id,),
        )
        return [
            (from_ms(at) or datetime.fromtimestamp(0, UTC), state, detail)
            for at, state, detail in rows
        ]

    async def user_keys_for(self, user_id: str) -> list[str]:
        """Every user key (platform:workspace:user) whose user part is `user_id`."""
        rows = await self._rows(
            "SELECT DISTINCT user_key FROM tasks WHERE user_key LIKE ? ESCAPE '\\'",
            ("%:" + user_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),),
        )
        return [row[0] for row in rows]

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._rows("SELECT state, COUNT(*) FROM tasks GROUP BY state")
        return {state: count for state, count in rows}
