"""Discord upload limits per server, learned by whichever process took an interaction there
and read by whichever worker uploads (implements adapters.discord.limits.SharedLimits)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]


class PgUploadLimits:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def remember(self, guild_id: str, limit: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO discord_upload_limits (guild_id, bytes) VALUES (%s, %s) "
                "ON CONFLICT (guild_id) DO UPDATE SET bytes = EXCLUDED.bytes",
                (guild_id, limit),
            )

    async def recall(self, guild_id: str) -> int | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT bytes FROM discord_upload_limits WHERE guild_id = %s", (guild_id,)
            )
            row = await cur.fetchone()
        return None if row is None else int(row[0])
