"""Discord's global REST budget (50 requests per second per bot): the in-process token bucket,
on a FakeClock its waits move."""

from __future__ import annotations

import asyncio

import pytest

from adapters.discord.budget import TokenBucket
from tests.fakes.clock import FakeClock


def bucket(rate: float, clock: FakeClock, waits: list[float]) -> TokenBucket:
    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 4))
        clock.advance(seconds)
        await asyncio.sleep(0)

    return TokenBucket(rate, clock=clock.monotonic, sleep=sleep)


async def test_a_seconds_worth_at_once_then_one_per_share_of_a_second(clock: FakeClock) -> None:
    waits: list[float] = []
    budget = bucket(50, clock, waits)
    for _ in range(50):
        await budget.spend()
    assert waits == []
    for _ in range(3):
        await budget.spend()
    assert waits == [0.02, 0.02, 0.02]


async def test_the_rate_holds_over_time_whoever_asks(clock: FakeClock) -> None:
    """200 requests from 8 callers at once on 25/s: the first 25 go at once, the rest take
    7 s; never more than 25 + 25 per second in any second."""
    waits: list[float] = []
    budget = bucket(25, clock, waits)
    spent_at: list[float] = []

    async def caller() -> None:
        for _ in range(25):
            await budget.spend()
            spent_at.append(clock.monotonic())

    await asyncio.gather(*(caller() for _ in range(8)))
    assert len(spent_at) == 200
    assert spent_at[-1] == pytest.approx(7.0)
    for start in range(8):
        assert sum(start <= t < start + 1 for t in spent_at) <= 50


async def test_unused_time_refills_up_to_one_seconds_worth(clock: FakeClock) -> None:
    waits: list[float] = []
    budget = bucket(10, clock, waits)
    for _ in range(10):
        await budget.spend()
    clock.advance(3600)  # an idle hour banks no more than a second's worth
    for _ in range(11):
        await budget.spend()
    assert waits == [0.1]


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="above zero"):
        TokenBucket(0)
