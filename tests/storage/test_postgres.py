"""PostgreSQL only: what must hold across processes. Each ledger here has its own pool, so the
database (not one event loop) is what keeps them apart: migrations run once whoever starts
first, and a cap of one admits one command out of ten sent at once."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from bot.dburl import redacted
from bot.domain import new_ref, new_task_id
from bot.errors import BudgetExceeded, QuotaExceeded
from bot.ledger import Budget, SpendQuery, TaskQuery, UserLimits
from bot.pricing import micros, period_starts
from bot.task import Task
from storage.postgres.connect import PgLedgerError, migrate
from storage.postgres.edits import PgEditBudget
from storage.postgres.ledger import PgLedger
from storage.postgres.schema import CHANNEL, SCHEMA_VERSION
from tests.bot.test_domain import T0, accepted
from tests.conftest import target
from tests.pg import pg_ledger


def _task(key: str, user: str = "U1") -> Task:
    return replace(
        accepted(), task_id=new_task_id(), ref=new_ref(), idem_key=key, target=target(user)
    )


async def test_migrations_run_once_however_many_start_together(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:  # start from an empty database
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    steps = await asyncio.gather(*(migrate(pg_url) for _ in range(5)))
    assert sorted(steps) == [0, 0, 0, 0, SCHEMA_VERSION]
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT version FROM videobot_schema").fetchall()
    assert row == [(SCHEMA_VERSION,)]


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE videobot_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(PgLedgerError, match="newer than this videobot"):
        async with PgLedger.open(pg_url):
            pass


@pytest.mark.parametrize("kind", ["concurrent", "daily"])
async def test_ten_processes_adding_at_once_against_a_cap_of_one_record_one(
    pg_url: str, kind: str
) -> None:
    limits = UserLimits(day_start=T0, **{kind: 1})  # type: ignore[arg-type]
    async with AsyncExitStack() as stack:
        ledgers = [await stack.enter_async_context(pg_ledger(pg_url)) for _ in range(10)]
        results = await asyncio.gather(
            *(lg.add(_task(f"race-{i}"), limits) for i, lg in enumerate(ledgers)),
            return_exceptions=True,
        )
        recorded = await ledgers[0].find(TaskQuery(limit=100))
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(recorded) == 1 and len(refused) == 9, results
    assert {r.kind for r in refused} == {kind}


async def test_an_unreachable_server_is_one_plain_line_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql://bot:s3cret-pass@127.0.0.1:1/videobot"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PgLedgerError) as caught:
        async with PgLedger.open(url):
            pass
    text = str(caught.value)
    assert "127.0.0.1:1" in text and "VIDEOBOT_DATABASE_URL" in text
    assert "s3cret-pass" not in text + caplog.text
    assert redacted(url) == "postgresql://bot:***@127.0.0.1:1/videobot"



async def test_concurrent_claimers_never_get_the_same_row(pg_url: str) -> None:
    async with AsyncExitStack() as stack:
        claimers = [await stack.enter_async_context(pg_ledger(pg_url)) for _ in range(6)]
        for i in range(300):
            await claimers[0].add(_task(f"row-{i}", user=f"U{i % 13}"))
        now = T0 + timedelta(minutes=1)
        taken: list[list[str]] = [[] for _ in claimers]

        async def drain(n: int) -> None:
            while claimed := await claimers[n].claim(now, 7, timedelta(seconds=60)):
                taken[n] += [t.task_id for t in claimed]

        await asyncio.gather(*(drain(n) for n in range(len(claimers))))
    every = [task_id for some in taken for task_id in some]
    assert len(every) == len(set(every)) == 300
    assert sum(1 for some in taken if some) > 1  # they really raced


async def test_a_claim_is_fair_across_users(pg_url: str) -> None:
    async with pg_ledger(pg_url) as ledger:
        for i in range(20):
            await ledger.add(replace(_task(f"hog-{i}", "HOG"), next_check_at=T0))
        solo, _ = await ledger.add(replace(_task("solo", "SOLO"), next_check_at=T0))
        claimed = await ledger.claim(T0, 2, timedelta(seconds=60))
    assert solo.task_id in {t.task_id for t in claimed}  # not starved behind 20 older rows



async def test_a_listening_worker_is_woken_by_another_processes_new_work(pg_url: str) -> None:
    woken = asyncio.Event()
    stop = asyncio.Event()
    async with pg_ledger(pg_url) as listener, pg_ledger(pg_url) as intake:
        listening = asyncio.create_task(listener.listen(woken.set, stop))
        await asyncio.wait_for(woken.wait(), 10)  # it wakes once on connecting
        woken.clear()
        await intake.add(_task("n1"))
        await asyncio.wait_for(woken.wait(), 10)
        stop.set()
        await asyncio.wait_for(listening, 10)


async def test_notifications_go_out_on_new_work_and_cancels_never_per_update(
    pg_url: str,
) -> None:
    async with pg_ledger(pg_url) as intake:
        conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            task, _ = await intake.add(_task("n1"))
            await intake.add(_task("n1"))  # a platform's retry: nothing new
            moved = await intake.save(task, task.rescheduled(T0, T0))  # an update: silent
            assert moved is not None
            await intake.save(moved, moved.cancelled(T0))
            await intake.add(_task("n2"))  # the last one, so everything before it has come
            heard = []
            async for note in conn.notifies(timeout=10, stop_after=3):
                heard.append(note.payload)
        finally:
            await conn.close()
    assert heard == ["new", "cancel", "new"]


async def test_slacks_edit_budget_is_one_per_workspace_across_processes(pg_url: str) -> None:
    """Two worker processes (two pools) editing in one workspace share its ~50 edits a minute:
    progress edits stop at their share (40), finals still get the rest, another workspace is
    untouched, and a refused edit is told how long to wait."""
    async with pg_ledger(pg_url) as one, pg_ledger(pg_url) as two:
        budgets = [PgEditBudget(one.pool), PgEditBudget(two.pool)]
        waits = await asyncio.gather(*(budgets[i % 2].take("T1", False) for i in range(60)))
        assert sum(w is None for w in waits) == 40
        refused = [w for w in waits if w is not None]
        assert all(timedelta(0) < w <= timedelta(seconds=60) for w in refused)
        finals = await asyncio.gather(*(budgets[i % 2].take("T1", True) for i in range(15)))
        assert sum(w is None for w in finals) == 10
        assert await budgets[1].take("T2", False) is None


async def test_ten_processes_of_ten_users_against_a_workspace_budget_for_three_record_three(
    pg_url: str,
) -> None:
    """A workspace's budget is shared by users whose per-user locks do not meet: the recording
    transaction also locks the workspace (and channel), so no two processes both take its last
    dollars. Without that lock READ COMMITTED lets most of them through."""
    day, month = period_starts(T0)
    limits = UserLimits(day, month_start=month)
    dollar = micros(1)
    async with AsyncExitStack() as stack:
        ledgers = [await stack.enter_async_context(pg_ledger(pg_url)) for _ in range(10)]
        await ledgers[0].set_budgets(
            [Budget(scope="workspace", period="month", limit=3 * dollar, unit="USD", subject="*")]
        )
        tasks = [
            replace(_task(f"ws-{i}", user=f"U{i}"), estimate=dollar, unit="USD", provider="x")
            for i in range(10)
        ]
        results = await asyncio.gather(
            *(lg.add(t, limits) for lg, t in zip(ledgers, tasks, strict=True)),
            return_exceptions=True,
        )
        recorded = await ledgers[0].find(TaskQuery(limit=100))
        spent = await ledgers[0].spend(SpendQuery(since=month, by="workspace"))
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(recorded) == 3 and len(refused) == 7, results
    assert [(line.tasks, line.spent) for line in spent] == [(3, 3 * dollar)]
