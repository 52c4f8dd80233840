"""Slack's chat.update budget (Tier 3: ~50 edits a minute per workspace, shared by every task)
counted in PostgreSQL, so worker processes on any machines share one budget per workspace
instead of each spending the whole of it. Times are the server's, one clock for all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.postgres.schema import EDIT_LOCK_CLASS

_WINDOW_S = 60.0


class PgEditBudget:
    """Implements adapters.slack.chat.EditAllowance on the ledger's database."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]],
        per_minute: int = 50,
        progress_share: float = 0.8,
    ) -> None:
        self._pool = pool
        self._limit = per_minute
        self._progress_limit = int(per_minute * progress_share)

    async def take(self, workspace_id: str, final: bool) -> timedelta | None:
        """Spend one edit; None if allowed, else how long until one is available. Progress
        edits use a share of the budget, so final edits still find room."""
        limit = self._limit if final else self._progress_limit
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (EDIT_LOCK_CLASS, workspace_id)
            )
            await conn.execute(
                "DELETE FROM slack_edits WHERE workspace_id = %s "
                "AND at <= clock_timestamp() - make_interval(secs => %s)",
                (workspace_id, _WINDOW_S),
            )
            # Seconds ago of each edit in the window, oldest first.
            cur = await conn.execute(
                "SELECT extract(epoch FROM clock_timestamp() - at)::float8 FROM slack_edits "
                "WHERE workspace_id = %s ORDER BY at",
                (workspace_id,),
            )
            ages = [float(age) for (age,) in await cur.fetchall()]
            if len(ages) >= limit:
                oldest_in_way = ages[len(ages) - limit]
                return timedelta(seconds=max(0.1, _WINDOW_S - oldest_in_way))
            await conn.execute(
                "INSERT INTO slack_edits (workspace_id) VALUES (%s)", (workspace_id,)
            )
        return None
