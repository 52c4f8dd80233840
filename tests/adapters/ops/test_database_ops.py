"""The operator's PostgreSQL commands: `videobot migrate-ledger` moves a SQLite ledger's tasks
and history across once (twice copies nothing twice) and refuses a file still being served;
doctor's database check reads the server, the schema and the replication caveat."""

from __future__ import annotations

import argparse
import io
from dataclasses import replace
from pathlib import Path

import psycopg
from pydantic import SecretStr

from adapters.ops.database import check_database
from adapters.ops.migrate import run_migrate_ledger
from adapters.ops.spend import run_usage_command
from bot.config import Settings
from bot.ledger import Budget, SpendQuery, TaskQuery
from bot.pricing import micros, period_starts
from storage.postgres.schema import SCHEMA_VERSION
from storage.sqlite.ledger import SqliteLedger
from storage.sqlite.lock import hold_ledger
from tests.bot.test_domain import T0
from tests.pg import pg_databases, pg_ledger, pg_url
from tests.storage.test_ledger import fresh

__all__ = ["pg_databases", "pg_url"]


def _settings(db: Path, url: str) -> Settings:
    return Settings(db_path=db, database_url=SecretStr(url))


async def test_a_sqlite_ledger_moves_over_with_its_history_once(
    tmp_path: Path, pg_url: str
) -> None:
    db = tmp_path / "old.db"
    async with SqliteLedger.open(db) as old:
        first, _ = await old.add(fresh("a", "U1"))  # type: ignore[arg-type]
        second, _ = await old.add(fresh("b", "U2"))  # type: ignore[arg-type]
        ended = await old.save(second, second.cancelled(T0))
        history = await old.history(second.task_id)
    out = io.StringIO()
    assert await run_migrate_ledger(_settings(db, pg_url), None, out) == 0
    assert "copied 2 task(s)" in out.getvalue()
    async with pg_ledger(pg_url) as pg:
        assert await pg.get(first.task_id) == first
        assert await pg.get(second.ref) == ended
        assert await pg.history(second.task_id) == history
        again = io.StringIO()
        assert await run_migrate_ledger(_settings(db, pg_url), None, again) == 0
        assert "copied 0 task(s)" in again.getvalue() and "2 were there" in again.getvalue()
        assert len(await pg.find(TaskQuery())) == 2
        assert await pg.history(second.task_id) == history


async def test_a_ledger_still_served_is_not_copied(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "busy.db"
    async with SqliteLedger.open(db) as old:
        await old.add(fresh("a"))  # type: ignore[arg-type]
    with hold_ledger(db):
        assert await run_migrate_ledger(_settings(db, pg_url), None, io.StringIO()) == 1
    async with pg_ledger(pg_url) as pg:
        assert await pg.find(TaskQuery()) == []


async def test_doctor_reads_the_server_and_the_schema(pg_url: str) -> None:
    checks = {c.name: c for c in await check_database(pg_url)}
    assert checks["database"].ok and "PostgreSQL" in checks["database"].detail
    assert checks["schema"].ok and f"v{SCHEMA_VERSION}, 0 tasks" in checks["schema"].detail
    assert "no synchronous standby" in checks["replication"].detail
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE videobot_schema SET version = 99")
    checks = {c.name: c for c in await check_database(pg_url)}
    assert not checks["schema"].ok and "upgrade videobot" in checks["schema"].fix


async def test_doctor_says_an_unreachable_database_plainly() -> None:
    [check] = await check_database("postgresql://bot:pw-xyz@127.0.0.1:1/videobot")
    assert not check.ok and "pw-xyz" not in check.detail and "127.0.0.1:1" in check.detail


async def test_spending_and_budgets_move_over_with_the_tasks(tmp_path: Path, pg_url: str) -> None:
    """What users spent this month and the budgets (as changed in the file) carry on after the
    move: the reports and the budget checks on PostgreSQL see the same money as on SQLite."""
    _, month = period_starts(T0)
    budget = Budget("user", "month", micros(5), "USD", "*")
    db = tmp_path / "old.db"
    async with SqliteLedger.open(db) as old:
        await old.seed_budgets([budget])
        priced = replace(fresh("a", "U1"), estimate=micros("0.72"), unit="USD")  # type: ignore[arg-type]
        await old.add(priced)
        before = await old.spend(SpendQuery(since=month))
    assert await run_migrate_ledger(_settings(db, pg_url), None, io.StringIO()) == 0
    async with pg_ledger(pg_url) as pg:
        assert await pg.spend(SpendQuery(since=month)) == before != []
        assert await pg.budgets() == [budget]
        assert not await pg.seed_budgets([budget])  # the settings' seeding came along


async def test_usage_reads_the_postgresql_ledger_not_a_file_left_beside_it(
    tmp_path: Path, pg_url: str
) -> None:
    """`videobot usage` reads the ledger the bot runs on. Before, it always opened the SQLite
    file: on a host with PostgreSQL only it said there was no ledger, and where an old file was
    left it quietly reported that file's money."""
    _, month = period_starts(T0)
    old = tmp_path / "videobot.db"
    async with SqliteLedger.open(old) as stale:
        await stale.add(replace(fresh("x", "U9"), estimate=micros(9), unit="USD"))  # type: ignore[arg-type]
    async with pg_ledger(pg_url) as pg:
        await pg.add(replace(fresh("a", "U1"), estimate=micros("0.72"), unit="USD"))  # type: ignore[arg-type]
    args = argparse.Namespace(since=month.isoformat(), by="user", json=False, csv=False)
    out = io.StringIO()
    assert await run_usage_command(_settings(old, pg_url), args, out) == 0
    assert "$0.72" in out.getvalue() and "$9.00" not in out.getvalue()
