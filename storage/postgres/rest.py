"""Discord's global REST budget (50 requests per second per bot, whatever the route) shared by
every process of the bot (implements adapters.discord.budget.RestBudget): one row holds the
next free slot in the database's clock, and each request takes the next slot in one atomic
statement, then waits for it. Slots are 1/rate apart, so no second ever holds more than
`rate` of them, however many processes spend at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]

# The slot is the later of "now" and the last slot's successor; the row keeps the successor of
# the slot just taken. Concurrent callers queue on the row lock, each seeing the last one's.
_TAKE = """
WITH now AS (SELECT clock_timestamp() AS t)
INSERT INTO discord_rest_budget AS b (name, next_at)
SELECT %(name)s, t + make_interval(secs => %(gap)s) FROM now
ON CONFLICT (name) DO UPDATE
SET next_at = greatest(b.next_at, (SELECT t FROM now)) + make_interval(secs => %(gap)s)
RETURNING b.next_at - make_interval(secs => %(gap)s),
          extract(epoch FROM b.next_at - (SELECT t FROM now))::float8 - %(gap)s
"""


class PgRestBudget:
    def __init__(
        self,
        pool: Pool,
        rate: float,
        *,
        name: str = "global",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be above zero")
        self._pool = pool
        self._gap = 1.0 / rate
        self._name = name
        self._sleep = sleep

    async def spend(self) -> None:
        """Take the next slot and wait for it. A wait cancelled after the slot was taken leaves
        that slot unused: the others are never sent sooner, only this one not at all."""
        await self.take()

    async def take(self) -> datetime:
        """spend(), returning the slot taken (the database's time it was due to go out)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_TAKE, {"name": self._name, "gap": self._gap})
            row = await cur.fetchone()
        if row is None:  # an upsert always returns its row
            raise RuntimeError("the REST budget row was not written")
        slot, wait = row
        if wait > 0:
            await self._sleep(float(wait))
        return slot  # type: ignore[no-any-return]
