"""What a failed task counts as spent, through the real worker against a scripted gateway on
loopback: a render the provider reports failed is not billed; a task it stopped knowing about
(404) or whose poll it refused (400/403/422) had been accepted and may have been, so its
estimate stays spent and the user is told so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bot.domain import TaskState
from bot.ledger import SpendQuery
from bot.pricing import PriceTable, micros
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.bot.test_polling import Rig
from tests.conftest import TEST_POLICY, fake_clock_worker, make_provider
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import Answer, ScriptedUpstream, refused, scripted_upstream

HALF = micros("0.5")
PRICES = PriceTable(per_clip=HALF)


def priced_rig(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> Rig:
    policy = replace(TEST_POLICY, prices=PRICES)
    chat = FakeChat()
    provider = make_provider(http, upstream.url)
    worker = fake_clock_worker(ledger, provider, chat, clock, tmp_path / "scratch", policy, 4)
    service = VideoService(ledger, policy, clock.now, worker.wake, prices=PRICES)
    return Rig(upstream, ledger, worker, service, chat, clock)


LOST = "It is counted as $0.50 spent, in case it was billed."


@pytest.mark.parametrize(
    ("answer", "spent", "said"),
    [
        (Answer(404, {"error": {"type": "not_found", "message": "No such task."}}), HALF, LOST),
        (refused(400, "Bad task id."), HALF, LOST),
        (refused(403, "You may not read this task."), HALF, LOST),
        (refused(422, "Unprocessable."), HALF, LOST),
        (
            Answer(200, {"task_id": "t", "status": "failed", "error": {"message": "Boom."}}),
            0,
            "It was not billed.",
        ),
    ],
)
async def test_only_a_render_the_provider_failed_goes_unbilled(
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
    answer: Answer,
    spent: int,
    said: str,
) -> None:
    async with scripted_upstream() as upstream:
        rig = priced_rig(upstream, ledger, http, clock, tmp_path)
        upstream.ids.append("t")
        upstream.script("t", answer)
        task = await rig.accept()
        await rig.run_until_idle(seconds=5)
        ended = await rig.row(task)
        assert ended.state is TaskState.FAILED
        assert rig.final_details()[-1].endswith(said), rig.final_details()
        lines = await ledger.spend(SpendQuery(since=T0))
        assert [(x.spent, x.held) for x in lines] == [(spent, 0)]
