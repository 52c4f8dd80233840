"""Prices in the PostgreSQL ledger: the table and rules both ledgers share
(storage/price_rules.py), with seeding serialised across processes starting together."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.pricing import PriceTable
from storage import price_rules as rules

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

MIGRATION = rules.MIGRATION


def _pg(query: str) -> str:
    return query.replace("?", "%s")


class PgPrices:
    """The Ledger port's price methods (a part of PgLedger)."""

    _pool: AsyncConnectionPool[Conn]

    async def set_prices(self, provider: str, table: PriceTable) -> None:
        statement, params = rules.setting(provider, table)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_pg(statement), params)

    async def seed_prices(self, provider: str, table: PriceTable) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            # One seeding at a time: processes starting together agree on what was there.
            await conn.execute("LOCK TABLE prices IN EXCLUSIVE MODE")
            cur = await conn.execute(_pg(rules.SELECT_SEED), (provider,))
            before = await cur.fetchall()
            statement, params = rules.seeding(provider, table)
            await conn.execute(_pg(statement), params)
        return rules.changed(before, table)

    async def prices(self, provider: str) -> PriceTable | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_pg(rules.SELECT), (provider,))
            return rules.read(await cur.fetchall())
