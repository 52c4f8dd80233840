"""The price table in force: kept in the ledger like the budgets (seeded from the settings at
start, changed there by a later admin command), read through a short cache so a change takes
effect within `REREAD` without a restart; and the table's JSON form, as the ledger stores it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import LedgerUnavailable
from bot.pricing import PriceTable

if TYPE_CHECKING:
    from bot.ledger import Ledger

log = logging.getLogger("videobot.spend")

# A ledger change reaches estimates and settlements at most this late; each process reads the
# table at most this often (one row, so the cost is nothing next to a task's insert).
REREAD = timedelta(seconds=30)


def to_json(table: PriceTable, canonical: bool = False) -> str:
    """The table as text; `canonical`: whatever the order of its rates (seeding compares
    those, so the same prices listed in another order are no change)."""
    order = sorted if canonical else list
    return json.dumps(
        {
            "unit": table.unit,
            "per_second": order([res, rate] for res, rate in table.per_second),
            "per_clip": table.per_clip,
            "per_million_tokens": table.per_million_tokens,
            "tokens_per_second": order([res, n] for res, n in table.tokens_per_second),
        },
        sort_keys=True,
    )


def from_json(text: str) -> PriceTable:
    body: dict[str, Any] = json.loads(text)
    return PriceTable(
        unit=str(body["unit"]),
        per_second=tuple((str(res), int(rate)) for res, rate in body["per_second"]),
        per_clip=None if body["per_clip"] is None else int(body["per_clip"]),
        per_million_tokens=(
            None if body["per_million_tokens"] is None else int(body["per_million_tokens"])
        ),
        tokens_per_second=tuple((str(res), int(n)) for res, n in body["tokens_per_second"]),
    )


class PriceReader(Protocol):
    async def prices(self, provider: str) -> PriceTable | None:
        """As Ledger.prices: the table stored for `provider`, or None."""
        ...


class PriceBook:
    """The prices `provider`'s tasks are estimated and settled at. `table` is the last one
    read (the settings' until the first read); `fresh()` re-reads the ledger once `REREAD`
    has passed. Without a ledger the book is the fixed table it was given."""

    def __init__(
        self,
        table: PriceTable,
        ledger: PriceReader | None = None,
        provider: str = "",
        clock: Callable[[], datetime] | None = None,
        reread: timedelta = REREAD,
    ) -> None:
        self.table = table
        self._ledger, self._provider, self._clock = ledger, provider, clock
        self._reread = reread
        self._read_at: datetime | None = None

    async def fresh(self) -> PriceTable:
        """The table in force now. A ledger that cannot be read leaves the last table in
        force (a price a few seconds old beats refusing every request)."""
        if self._ledger is None or self._clock is None:
            return self.table
        now = self._clock()
        if self._read_at is not None and now - self._read_at < self._reread:
            return self.table
        self._read_at = now
        try:
            stored = await self._ledger.prices(self._provider)
        except LedgerUnavailable as err:
            log.warning("prices: the ledger could not be read, so the last prices stand: %s", err)
            return self.table
        if stored is not None:
            self.table = stored
        return self.table


async def start_prices(
    ledger: Ledger, provider: str, table: PriceTable, clock: Callable[[], datetime]
) -> PriceBook:
    """Seed the ledger with the settings' prices (only when they changed since the last start,
    so a change made through the ledger survives a restart) and open the book on it."""
    if await ledger.seed_prices(provider, table):
        log.debug("prices: the settings changed since the last start, so theirs are in force")
    else:
        log.debug("prices: the settings are as at the last start; the stored prices stand")
    book = PriceBook(table, ledger, provider, clock)
    await book.fresh()
    return book
