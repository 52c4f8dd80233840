"""Discord's identify spacing across machines (implements adapters.discord.identify.IdentifyGate):
one row per identify bucket holds the time of its last IDENTIFY in the database's clock, and a
transaction-scoped advisory lock per bucket makes "wait out the spacing, then record" one turn.
A process that dies mid-turn ends its transaction, so the lock never outlives it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.postgres.schema import IDENTIFY_LOCK_CLASS

log = logging.getLogger("videobot.discord")
Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]

# Discord's 5 seconds plus a margin: a shard is admitted just before discord.py sends its
# IDENTIFY, not at the moment it does (the file gate's spacing, adapters/discord/identify.py).
SPACING = timedelta(seconds=5.5)
# Polled rather than blocked on the lock: a cancelled admit must not leave a query waiting
# on the server that takes the lock after we gave up.
_POLL_SECONDS = 0.1


class PgIdentifyGate:
    def __init__(
        self,
        pool: Pool,
        *,
        spacing: timedelta = SPACING,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._spacing = spacing.total_seconds()
        self._sleep = sleep

    async def admit(self, bucket: int) -> None:
        """Return once this process may IDENTIFY in `bucket`; waits as long as it takes, and a
        cancelled wait rolls back (nothing recorded, the lock let go)."""
        while True:
            if await self._turn(bucket):
                return
            await asyncio.sleep(_POLL_SECONDS)

    async def _turn(self, bucket: int) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, %s)", (IDENTIFY_LOCK_CLASS, bucket)
            )
            locked = await cur.fetchone()
            if not locked or not locked[0]:
                return False
            cur = await conn.execute(
                "SELECT extract(epoch FROM at - clock_timestamp())::float8 + %s "
                "FROM discord_identifies WHERE bucket = %s",
                (self._spacing, bucket),
            )
            row = await cur.fetchone()
            wait = float(row[0]) if row else 0.0
            if wait > 0:
                log.info("waiting %.1fs to start a Discord session (identify bucket %d)",
                         wait, bucket)  # fmt: skip
                await self._sleep(wait)
            # Never earlier than a full spacing after the last one, whatever the wait did: the
            # next process's wait is counted from here.
            await conn.execute(
                "INSERT INTO discord_identifies AS d (bucket, at) "
                "VALUES (%(bucket)s, clock_timestamp()) ON CONFLICT (bucket) DO UPDATE "
                "SET at = greatest(clock_timestamp(), d.at + make_interval(secs => %(gap)s))",
                {"bucket": bucket, "gap": self._spacing},
            )
        return True
