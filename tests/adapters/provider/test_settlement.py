"""What a task cost, settled from what each provider really reports (the simulator speaks each
one's usage shape): Google's output video tokens, evolink's credits, fal's billed seconds; the
estimate where a gateway reports nothing; and a render that failed at the provider not billed."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain import Mode, TaskState, VideoRequest
from bot.ledger import SpendQuery
from bot.price_book import REREAD
from bot.pricing import PriceTable, micros
from bot.providers import PROVIDERS
from tests.adapters.provider.gateway_engine import finished, gateway_engine
from tests.bot.test_domain import T0
from tests.conftest import target
from tests.fakes.clock import FakeClock

GOOGLE = PROVIDERS["google"].prices
EIGHT_SECONDS = VideoRequest("a lighthouse at dusk", Mode.T2V, "16:9", 8)


@pytest.mark.parametrize(
    ("name", "cost", "said", "source"),
    [
        # 8 s x 5,792 tokens, priced at 720p's $0.10 a second.
        ("google", micros("0.8"), "Cost: $0.80.", "provider"),
        ("evolink", micros("81.6"), "Cost: 81.6 credits.", "provider"),
        ("fal", micros("1.2"), "Cost: $1.20.", "provider"),
        ("apimart", micros("0.8"), "Cost: about $0.80.", "estimate"),  # it reports no usage
    ],
)
async def test_the_final_status_and_the_ledger_hold_what_the_provider_billed(
    tmp_path: Path, clock: FakeClock, name: str, cost: int, said: str, source: str
) -> None:
    async with gateway_engine(name, tmp_path, clock, priced=True) as engine:
        task, _ = await engine.service.accept(EIGHT_SECONDS, target(), "evt")
        assert task.estimate is not None
        ended = await finished(engine, task.ref)
        assert ended.state is TaskState.DELIVERED, ended.error_message
        assert ended.billed == (cost if source == "provider" else None)
        final = engine.chat.final_views()[-1]
        assert final.final and final.detail.endswith(said), final.detail
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(cost, 0)]


@pytest.mark.parametrize("name", ["google", "evolink", "fal"])
async def test_a_render_that_failed_at_the_provider_is_not_billed(
    tmp_path: Path, clock: FakeClock, name: str
) -> None:
    async with gateway_engine(name, tmp_path, clock, priced=True, fail_rate=1.0) as engine:
        task, _ = await engine.service.accept(EIGHT_SECONDS, target(), "evt")
        ended = await finished(engine, task.ref)
        assert ended.state is TaskState.FAILED
        assert engine.chat.final_views()[-1].detail.endswith("It was not billed.")
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(0, 0)]


async def test_a_submit_whose_answer_was_lost_counts_as_spent(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The provider created (and may bill) the task, but its answer was an error: unknown.
    async with gateway_engine(
        "apimart", tmp_path, clock, priced=True, error_after_submit=1.0
    ) as engine:
        task, _ = await engine.service.accept(EIGHT_SECONDS, target(), "evt")
        ended = await finished(engine, task.ref)
        assert ended.state is TaskState.UNKNOWN
        assert engine.chat.final_views()[-1].detail.endswith(
            "It is counted as $0.80 spent, in case it was billed."
        )
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(micros("0.8"), 0)]


@pytest.mark.parametrize(
    ("resolution", "prices", "said", "cost"),
    [
        ("4k", None, "Cost: $3.20.", micros("3.2")),
        ("360p", None, "Cost: $0.40.", micros("0.4")),
        ("1080p", None, "Cost: $1.60.", micros("1.6")),
        # The operator's contract wins over what the tokens would cost at list price.
        ("720p", PriceTable(per_clip=micros("0.3")), "Cost: $0.30.", micros("0.3")),
        (
            "720p",
            replace(GOOGLE, per_second=(("720p", micros("0.15")),)),
            "Cost: $1.20.",
            micros("1.2"),
        ),
    ],
)
async def test_googles_tokens_are_priced_at_the_videos_resolution_and_the_operators_prices(
    tmp_path: Path,
    clock: FakeClock,
    resolution: str,
    prices: PriceTable | None,
    said: str,
    cost: int,
) -> None:
    async with gateway_engine("google", tmp_path, clock, priced=True, prices=prices) as engine:
        request = replace(EIGHT_SECONDS, resolution=resolution)
        task, _ = await engine.service.accept(request, target(), "evt")
        assert task.estimate == cost  # the final cost is what the user was told beforehand
        ended = await finished(engine, task.ref)
        assert ended.state is TaskState.DELIVERED, ended.error_message
        assert engine.chat.final_views()[-1].detail.endswith(said)
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(cost, 0)]


async def test_a_cost_above_its_reservation_is_recorded_and_said(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A per-token contract dearer than the per-second estimate: 46,336 tokens at $100 a million.
    dear = replace(GOOGLE, per_million_tokens=micros(100))
    async with gateway_engine("google", tmp_path, clock, priced=True, prices=dear) as engine:
        task, _ = await engine.service.accept(EIGHT_SECONDS, target(), "evt")
        with caplog.at_level(logging.WARNING, "videobot"):
            ended = await finished(engine, task.ref)
        assert ended.billed == micros("4.6336")
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(micros("4.6336"), 0)]
        assert f"task {task.ref} cost $4.63, more than the $0.80 reserved for it" in caplog.text


async def test_settlement_prices_the_usage_at_the_ledgers_prices_in_force(
    tmp_path: Path, clock: FakeClock
) -> None:
    # fal reports the seconds it billed; the estimate was made at $0.15 a second, then an
    # admin lowered the price in the ledger: once the book re-reads, the settlement uses it.
    async with gateway_engine("fal", tmp_path, clock, priced=True, in_ledger=True) as engine:
        task, _ = await engine.service.accept(EIGHT_SECONDS, target(), "evt")
        assert task.estimate == micros("1.2")
        cheaper = PriceTable(per_second=(("720p", micros("0.1")),))
        await engine.ledger.set_prices("fal", cheaper)
        clock.advance(REREAD.total_seconds())
        ended = await finished(engine, task.ref)
        assert ended.state is TaskState.DELIVERED, ended.error_message
        assert ended.billed == micros("0.8")
        assert engine.chat.final_views()[-1].detail.endswith("Cost: $0.80.")
        lines = await engine.ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(micros("0.8"), 0)]
