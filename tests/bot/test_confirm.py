"""Confirmation above VIDEOBOT_CONFIRM_ABOVE, in the core: nothing is recorded or reserved
until the requester confirms, a second Confirm is the same task, only the requester can
answer, Cancel forgets it, and an unconfirmed request expires."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.access import AccessPolicy
from bot.domain import ReplyTarget
from bot.errors import ActionRefused, ConfirmationNeeded
from bot.ledger import SpendQuery, TaskQuery
from bot.policy import WorkerPolicy
from bot.pricing import micros
from bot.providers import PROVIDERS
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.conftest import t2v, target
from tests.fakes.clock import FakeClock
from tests.pg import pg_databases, pg_ledger, pg_url

__all__ = ["pg_databases", "pg_url"]
GUIDE = PROVIDERS["guide"]  # 6 s: $0.72, 10 s: $1.20


def confirming(ledger: SqliteLedger, clock: FakeClock) -> VideoService:
    return VideoService(
        ledger,
        WorkerPolicy(),
        clock.now,
        lambda: None,
        AccessPolicy(),
        GUIDE.allows,
        prices=GUIDE.prices,
        confirm_above=micros(1),
    )


async def nothing_recorded(ledger: SqliteLedger) -> bool:
    tasks = await ledger.find(TaskQuery())
    return tasks == [] and await ledger.spend(SpendQuery(since=T0.replace(day=1))) == []


async def test_above_the_threshold_nothing_happens_until_confirm(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = confirming(ledger, clock)
    cheap, created = await svc.accept(t2v(duration=6), target(), "cheap")  # $0.72: no question
    assert created
    with pytest.raises(ConfirmationNeeded) as asked:
        await svc.accept(t2v(duration=10), target(), "dear")
    question = asked.value
    assert str(question) == (
        "This video would cost about $1.20; anything above $1.00 needs a confirmation here. "
        "Press Confirm within 10 minutes to make it, or Cancel; nothing is sent or charged "
        "until you confirm."
    )
    assert [t.ref for t in await ledger.find(TaskQuery())] == [cheap.ref]
    # The platform retries the command: the same question about the same held request.
    with pytest.raises(ConfirmationNeeded) as again:
        await svc.accept(t2v(duration=10), target(), "dear")
    assert again.value.ref == question.ref
    with pytest.raises(ActionRefused, match="Only the person who asked"):
        await svc.confirm(question.ref, target("U2"))
    task, created = await svc.confirm(question.ref.lower(), target())
    assert created and task.estimate == micros("1.2") and task.idem_key == "dear"
    twice, created = await svc.confirm(question.ref, target())
    assert not created and twice.task_id == task.task_id  # a double Confirm is one task
    with pytest.raises(ActionRefused, match="confirmed already"):
        await svc.dismiss(question.ref, target())
    assert len(await ledger.find(TaskQuery())) == 2


async def test_cancel_forgets_and_an_unconfirmed_request_expires(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = confirming(ledger, clock)
    with pytest.raises(ConfirmationNeeded) as first:
        await svc.accept(t2v(duration=10), target(), "a")
    await svc.dismiss(first.value.ref, target())
    with pytest.raises(ActionRefused, match="no longer waiting for a confirmation"):
        await svc.confirm(first.value.ref, target())
    with pytest.raises(ConfirmationNeeded) as second:
        await svc.accept(t2v(duration=10), target(), "b")
    clock.advance(10 * 60)
    with pytest.raises(ActionRefused, match="not confirmed within 10 minutes"):
        await svc.confirm(second.value.ref, target())
    assert await nothing_recorded(ledger)


async def test_the_console_is_told_to_type_confirm(ledger: SqliteLedger, clock: FakeClock) -> None:
    svc = confirming(ledger, clock)
    console = ReplyTarget("console", "local", "console", "me")
    with pytest.raises(ConfirmationNeeded) as asked:
        await svc.accept(t2v(duration=10), console, "a")
    assert f"Type `confirm {asked.value.ref}` within 10 minutes to make it;" in str(asked.value)


async def test_a_confirmed_request_points_at_its_task_forever(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = confirming(ledger, clock)
    with pytest.raises(ConfirmationNeeded) as asked:
        await svc.accept(t2v(duration=10), target(), "dear")
    task, created = await svc.confirm(asked.value.ref, target())
    assert created and task.ref == asked.value.ref  # the task bears the question's ref
    clock.advance(60 * 60)  # long past the 10 minutes a question is held
    late, created = await svc.confirm(asked.value.ref, target())
    assert not created and late.task_id == task.task_id
    with pytest.raises(ActionRefused) as cancelled:
        await svc.dismiss(asked.value.ref, target())
    assert str(cancelled.value) == (
        f"That request was confirmed already and is task {task.ref}; to stop it, use the "
        "Cancel button of its status message."
    )
    # The original command replayed (the same platform event) finds its task, asking nothing.
    replayed, created = await svc.accept(t2v(duration=10), target(), "dear")
    assert not created and replayed.task_id == task.task_id
    # Someone else pressing the old buttons learns nothing about it.
    with pytest.raises(ActionRefused, match="no longer waiting"):
        await svc.confirm(asked.value.ref, target("U2"))
    assert len(await ledger.find(TaskQuery())) == 1


async def test_a_held_request_survives_a_restart_of_the_bot(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The question is kept in the ledger: a Confirm after the bot restarted makes the video
    (before, the request lived in the process's memory and the answer was "Send it again")."""
    async with SqliteLedger.open(tmp_path / "l.db") as first:
        with pytest.raises(ConfirmationNeeded) as asked:
            await confirming(first, clock).accept(t2v(duration=10), target(), "dear")
    async with SqliteLedger.open(tmp_path / "l.db") as second:
        task, created = await confirming(second, clock).confirm(asked.value.ref, target())
        assert created and task.ref == asked.value.ref


async def test_a_confirm_pressed_on_another_replica_finds_the_request(
    pg_url: str, clock: FakeClock
) -> None:
    """Two intake processes behind a load balancer (two pools on one PostgreSQL ledger): the
    question asked by one is answered on the other, once, and Cancel works there too."""
    async with pg_ledger(pg_url) as one, pg_ledger(pg_url) as other:
        asking, answering = confirming(one, clock), confirming(other, clock)  # type: ignore[arg-type]
        with pytest.raises(ConfirmationNeeded) as asked:
            await asking.accept(t2v(duration=10), target(), "dear")
        task, created = await answering.confirm(asked.value.ref, target())
        again, twice = await asking.confirm(asked.value.ref, target())
        assert created and not twice and again.task_id == task.task_id
        with pytest.raises(ConfirmationNeeded) as declined:
            await answering.accept(t2v(duration=10), target(), "dearer")
        await asking.dismiss(declined.value.ref, target())
        with pytest.raises(ActionRefused):
            await answering.confirm(declined.value.ref, target())
        assert [t.ref for t in await one.find(TaskQuery())] == [task.ref]
