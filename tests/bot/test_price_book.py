"""Prices kept in the ledger reach a running service without a restart: the settings seed them
at start, a change written with set_prices applies to estimates once the book re-reads (at most
REREAD later), and a ledger that cannot be read leaves the last prices in force."""

from __future__ import annotations

from datetime import timedelta

from bot.errors import LedgerUnavailable
from bot.policy import WorkerPolicy
from bot.price_book import REREAD, PriceBook, start_prices
from bot.pricing import CREDITS, PriceTable, micros
from bot.providers import PROVIDERS
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import t2v, target
from tests.fakes.clock import FakeClock

GUIDE = PROVIDERS["guide"]  # $0.12 a second: 6 s is $0.72
DEARER = PriceTable(per_second=(("720p", micros("0.2")),))  # 6 s is $1.20


async def test_a_running_service_picks_up_a_price_change_after_the_reread(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    book = await start_prices(ledger, "guide", GUIDE.prices, clock.now)
    assert await ledger.prices("guide") == GUIDE.prices
    svc = VideoService(
        ledger, WorkerPolicy(), clock.now, lambda: None, profile=GUIDE.allows, prices=book
    )
    first, _ = await svc.accept(t2v(), target(), "a")
    assert first.estimate == micros("0.72")
    await ledger.set_prices("guide", DEARER)  # as an admin command would
    clock.advance(REREAD.total_seconds() - 1)
    cached, _ = await svc.accept(t2v(), target(), "b")
    assert cached.estimate == micros("0.72")  # read less than REREAD ago: still in force
    clock.advance(1)
    dearer, _ = await svc.accept(t2v(), target(), "c")
    assert (dearer.estimate, dearer.unit) == (micros("1.2"), "USD")
    await ledger.set_prices("guide", PriceTable(unit=CREDITS, per_clip=micros(5)))
    clock.advance(REREAD.total_seconds())
    credits, _ = await svc.accept(t2v(), target(), "d")
    assert (credits.estimate, credits.unit) == (micros(5), CREDITS)


async def test_a_restart_with_the_same_settings_keeps_the_ledgers_prices(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await start_prices(ledger, "guide", GUIDE.prices, clock.now)
    await ledger.set_prices("guide", DEARER)
    again = await start_prices(ledger, "guide", GUIDE.prices, clock.now)
    assert again.table == DEARER
    edited = PriceTable(per_second=(("720p", micros("0.3")),))
    changed = await start_prices(ledger, "guide", edited, clock.now)
    assert changed.table == edited


class FlakyPrices:
    """The prices of a real ledger until the database goes away."""

    def __init__(self, ledger: SqliteLedger) -> None:
        self.ledger, self.gone = ledger, False

    async def prices(self, provider: str) -> PriceTable | None:
        if self.gone:
            raise LedgerUnavailable("the database is not answering")
        return await self.ledger.prices(provider)


async def test_an_unreadable_ledger_leaves_the_last_prices_in_force(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_prices("guide", DEARER)
    flaky = FlakyPrices(ledger)
    book = PriceBook(GUIDE.prices, flaky, "guide", clock.now, reread=timedelta(seconds=5))
    assert await book.fresh() == DEARER
    flaky.gone = True
    clock.advance(5)
    assert await book.fresh() == DEARER
    assert book.table == DEARER
