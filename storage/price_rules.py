"""Prices in the ledger, as both backends keep them: one row per provider profile with the table
in force (JSON, bot/price_book.py) and the table the settings last seeded, so the settings
replace it only when they changed since (as the budgets: storage/spend_rules.py). Plain SQL with
`?` placeholders; the PostgreSQL ledger runs it with its own."""

from __future__ import annotations

from typing import Any

from bot.price_book import from_json, to_json
from bot.pricing import PriceTable

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
