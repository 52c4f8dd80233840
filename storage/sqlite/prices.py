"""Prices in the SQLite ledger: one row per provider profile with the table in force (JSON,
bot/price_book.py) and the table the settings last seeded, so the settings replace it only
when they changed since (as the budgets: storage/sqlite/budgets.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.price_book import from_json, to_json
from bot.pricing import PriceTable
from storage.sqlite.writer import GroupWriter

MIGRATION = """
CREATE TABLE prices (
    provider TEXT PRIMARY KEY,
    prices   TEXT NOT NULL,
    seeded   TEXT
);
"""

SELECT = "SELECT prices FROM prices WHERE provider = ?"
SELECT_SEED = "SELECT seeded FROM prices WHERE provider = ?"
# An admin's change keeps what was seeded, so the next start with the same settings keeps it.
SET = (
    "INSERT INTO prices (provider, prices, seeded) VALUES (?, ?, NULL) "
    "ON CONFLICT (provider) DO UPDATE SET prices = excluded.prices"
)
# One statement: a no-op when these are the prices the last seeding stored.
SEED = (
    "INSERT INTO prices (provider, prices, seeded) VALUES (?, ?, ?) "
    "ON CONFLICT (provider) DO UPDATE SET prices = excluded.prices, seeded = excluded.seeded "
    "WHERE prices.seeded IS NULL OR prices.seeded != excluded.seeded"
)


def setting(provider: str, table: PriceTable) -> tuple[str, tuple[Any, ...]]:
    return SET, (provider, to_json(table))


def seeding(provider: str, table: PriceTable) -> tuple[str, tuple[Any, ...]]:
    return SEED, (provider, to_json(table), to_json(table, canonical=True))


def changed(before: list[Any], table: PriceTable) -> bool:
    """Whether a seeding found other prices seeded (or none) before it: it replaced them."""
    return not before or before[0][0] != to_json(table, canonical=True)


def read(rows: list[Any]) -> PriceTable | None:
    return from_json(rows[0][0]) if rows else None


class SqlitePrices:
    """The Ledger port's price methods (a part of SqliteLedger)."""

    _rows: Callable[..., Awaitable[list[Any]]]
    _writer: GroupWriter

    async def set_prices(self, provider: str, table: PriceTable) -> None:
        await self._writer.transaction([setting(provider, table)])

    async def seed_prices(self, provider: str, table: PriceTable) -> bool:
        # One process owns a SQLite file, so nothing seeds between this read and the write.
        before = await self._rows(SELECT_SEED, (provider,))
        await self._writer.transaction([seeding(provider, table)])
        return changed(before, table)

    async def prices(self, provider: str) -> PriceTable | None:
        return read(await self._rows(SELECT, (provider,)))
