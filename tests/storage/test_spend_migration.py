"""A ledger written before spending existed (schema 3) migrates in place: its tasks stay, they
have no spend rows, and tasks recorded from then on reserve and settle."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from bot.ports import SpendQuery
from bot.pricing import micros
from storage.codec import COLUMNS, task_to_row
from storage.sqlite.ledger import SqliteLedger
from storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from tests.bot.test_domain import T0, accepted


async def test_a_schema_3_ledger_gains_spending_and_keeps_its_tasks(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = accepted()
    with sqlite3.connect(path) as conn:
        for step in MIGRATIONS[:3]:
            conn.executescript(step)
        marks = ", ".join("?" * len(COLUMNS))
        conn.execute(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", task_to_row(old))
        conn.execute("PRAGMA user_version=3")
    conn.close()
    async with SqliteLedger.open(path) as ledger:
        assert await ledger._scalar("PRAGMA user_version") == SCHEMA_VERSION == 5
        kept = await ledger.get(old.ref)
        assert kept is not None and kept.estimate is None
        assert await ledger.spend(SpendQuery(since=T0.replace(day=1))) == []
        assert await ledger.save(kept, kept.cancelled(T0)) is not None  # no spend row: fine
        new = replace(
            accepted(), task_id="n" * 32, ref="NEWREF", idem_key="new", estimate=micros(1)
        )
        new = replace(new, unit="USD")
        await ledger.add(new)
        lines = await ledger.spend(SpendQuery(since=T0.replace(day=1)))
        assert [(x.tasks, x.spent, x.held) for x in lines] == [(1, micros(1), micros(1))]
