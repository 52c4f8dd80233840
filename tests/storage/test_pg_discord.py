"""Discord's cross-process limits on PostgreSQL: the identify gate and the global REST budget,
each used from two connection pools (two processes, as far as the server can tell). Waits go
through an injected sleep that records them, or are measured in the database's clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from storage.postgres.identify import PgIdentifyGate
from storage.postgres.ledger import PgLedger
from storage.postgres.rest import PgRestBudget
from tests.pg import pg_databases, pg_ledger, pg_url

__all__ = ["pg_databases", "pg_url"]


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[PgLedger, PgLedger]]:
    async with pg_ledger(pg_url) as first, pg_ledger(pg_url) as second:
        yield first, second


class Waits:
    """A sleep that only records (the database's clock keeps its own time)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        await asyncio.sleep(0)


async def db_now(ledger: PgLedger) -> datetime:
    async with ledger.pool.connection() as conn:
        cur = await conn.execute("SELECT clock_timestamp()")
        row = await cur.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def test_identifies_of_one_bucket_are_spaced_across_processes_and_buckets_apart_are_not(
    two: tuple[PgLedger, PgLedger],
) -> None:
    waits = Waits()
    gates = [PgIdentifyGate(ledger.pool, sleep=waits) for ledger in two]
    await asyncio.gather(gates[0].admit(0), gates[1].admit(0), gates[0].admit(0))
    # One went at once; the others waited one and two spacings (less the moments in between).
    assert sorted(waits.seconds) == [pytest.approx(5.5, abs=0.5), pytest.approx(11.0, abs=0.5)]
    await gates[1].admit(1)  # another bucket: no wait
    assert len(waits.seconds) == 2


async def test_the_spacing_holds_in_real_time(two: tuple[PgLedger, PgLedger]) -> None:
    spacing = timedelta(seconds=0.4)
    gates = [PgIdentifyGate(ledger.pool, spacing=spacing) for ledger in two]
    started = await db_now(two[0])
    async with asyncio.timeout(30):
        await asyncio.gather(gates[0].admit(3), gates[1].admit(3), gates[1].admit(3))
    assert await db_now(two[1]) - started >= 2 * spacing


async def test_a_cancelled_wait_records_nothing_and_lets_the_bucket_go(
    two: tuple[PgLedger, PgLedger],
) -> None:
    async def never(_: float) -> None:
        await asyncio.Event().wait()

    await PgIdentifyGate(two[0].pool).admit(0)
    waiting = asyncio.create_task(PgIdentifyGate(two[1].pool, sleep=never).admit(0))
    await asyncio.sleep(0.3)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    waits = Waits()
    async with asyncio.timeout(5):  # the lock was let go with the transaction
        await PgIdentifyGate(two[1].pool, sleep=waits).admit(0)
    assert waits.seconds == [pytest.approx(5.5, abs=1.0)]  # counted from the first, not 11 s


def most_in_one_second(slots: list[datetime]) -> int:
    ordered = sorted(slots)
    return max(
        sum(start <= slot < start + timedelta(seconds=1) for slot in ordered) for start in ordered
    )


async def test_two_processes_spending_at_once_never_exceed_the_rate_in_any_second(
    two: tuple[PgLedger, PgLedger],
) -> None:
    """240 requests from 8 callers in two processes on 50/s: the slots run 4.8 s ahead of the
    database's clock, 50 to any second window."""
    waits = Waits()
    budgets = [PgRestBudget(ledger.pool, 50, sleep=waits) for ledger in two]
    slots: list[datetime] = []

    async def caller(budget: PgRestBudget) -> None:
        for _ in range(30):
            slots.append(await budget.take())

    started = await db_now(two[0])
    await asyncio.gather(*(caller(budgets[k % 2]) for k in range(8)))
    assert len(set(slots)) == 240
    assert most_in_one_second(slots) == 50
    assert max(slots) - started >= timedelta(seconds=239 / 50)
    assert max(waits.seconds) == pytest.approx(239 / 50, abs=0.5)


async def test_spending_waits_for_its_slot_in_real_time(two: tuple[PgLedger, PgLedger]) -> None:
    budgets = [PgRestBudget(ledger.pool, 50, name="measured") for ledger in two]
    late: list[timedelta] = []

    async def caller(k: int) -> None:
        for _ in range(15):
            slot = await budgets[k % 2].take()
            late.append(await db_now(two[k % 2]) - slot)

    started = await db_now(two[0])
    async with asyncio.timeout(30):
        await asyncio.gather(*(caller(k) for k in range(4)))
    # 60 requests at 50/s: no sooner than 59 gaps, and none went before its slot.
    assert await db_now(two[0]) - started >= timedelta(seconds=59 / 50)
    assert min(late) >= timedelta(0)


async def test_a_rate_must_be_positive(two: tuple[PgLedger, PgLedger]) -> None:
    with pytest.raises(ValueError, match="above zero"):
        PgRestBudget(two[0].pool, 0)
