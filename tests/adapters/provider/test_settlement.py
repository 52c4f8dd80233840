"""What a task cost, settled from what each provider really reports (the simulator speaks each
one's usage shape): Google's output video tokens, evolink's credits, fal's billed seconds; the
estimate where a gateway reports nothing; and a render that failed at the provider not billed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Mode, TaskState, VideoRequest
from bot.ports import SpendQuery
from bot.pricing import micros
from tests.adapters.provider.gateway_engine import finished, gateway_engine
from tests.bot.test_domain import T0
from tests.conftest import target
from tests.fakes.clock import FakeClock

EIGHT_SECONDS = VideoRequest("a lighthouse at dusk", Mode.T2V, "16:9", 8)


@pytest.mark.parametrize(
    ("name", "cost", "said", "source"),
    [
        # 8 s x 5,792 tokens at $17.27 per million: $0.8002, against an $0.80 estimate.
        ("google", 800_223, "Cost: $0.80.", "provider"),
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
