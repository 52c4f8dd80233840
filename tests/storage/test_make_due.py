"""Ledger.make_due: a provider's callback makes its rendering task due now, by the provider's
task id, and moves nothing but the schedule (no state, no version: the poll decides)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.storage.test_ledger import fresh


async def _rendering(ledger: SqliteLedger, key: str, provider_id: str) -> Task:
    """A task the provider holds, its next poll a minute away."""
    task, _ = await ledger.add(fresh(key))  # type: ignore[arg-type]
    sending = await ledger.save(task, task.submitting(T0))
    assert sending is not None
    submitted = await ledger.save(
        sending, sending.submitted(provider_id, T0, T0 + timedelta(seconds=60))
    )
    assert submitted is not None
    return submitted


async def test_a_rendering_task_becomes_due_now_and_keeps_its_state_and_version(
    ledger: SqliteLedger,
) -> None:
    task = await _rendering(ledger, "k1", "prov-1")
    now = T0 + timedelta(seconds=3)
    assert await ledger.due(now, 10, frozenset()) == []

    assert await ledger.make_due("prov-1", now) == task.task_id

    [due] = await ledger.due(now, 10, frozenset())
    assert due.next_check_at == now
    assert (due.state, due.version) == (task.state, task.version)
    # The worker that held the row before the callback still saves its step.
    assert await ledger.save(task, task.polled(True, 40, now, now + timedelta(seconds=5)))


async def test_it_never_pushes_a_poll_later_and_is_idempotent(ledger: SqliteLedger) -> None:
    task = await _rendering(ledger, "k1", "prov-1")
    now = T0 + timedelta(seconds=3)
    assert await ledger.make_due("prov-1", now) == task.task_id
    assert await ledger.make_due("prov-1", now + timedelta(seconds=30)) == task.task_id
    stored = await ledger.get(task.task_id)
    assert stored is not None and stored.next_check_at == now


async def test_unknown_finished_or_unsubmitted_tasks_are_left_alone(
    ledger: SqliteLedger,
) -> None:
    task = await _rendering(ledger, "k1", "prov-1")
    failed = await ledger.save(task, task.failed("x", "the render failed", T0))
    assert failed is not None
    waiting, _ = await ledger.add(fresh("k2"))  # type: ignore[arg-type]
    later = T0 + timedelta(seconds=5)

    assert await ledger.make_due("prov-1", later) is None  # ended: the poll already decided
    assert await ledger.make_due("prov-unknown", later) is None
    assert await ledger.make_due("", later) is None
    after = await ledger.get(failed.task_id)
    assert after == failed
    assert await ledger.get(waiting.task_id) == waiting


async def test_the_lookup_uses_an_index_not_a_scan(tmp_path: Path) -> None:
    async with SqliteLedger.open(tmp_path / "l.db"):
        pass
    conn = sqlite3.connect(tmp_path / "l.db")
    plan = " ".join(
        str(row[-1])
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id FROM tasks WHERE provider_task_id = ? "
            "AND state IN ('running', 'submitted') LIMIT 1",
            ("p",),
        )
    )
    assert "tasks_provider" in plan, plan
