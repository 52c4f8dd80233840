"""Prices in the SQLite ledger: the table and rules both ledgers share (storage/price_rules.py)
through the one writer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.pricing import PriceTable
from storage.price_rules import SELECT, SELECT_SEED, changed, read, seeding, setting
from storage.sqlite.writer import GroupWriter


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
