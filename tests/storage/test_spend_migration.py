"""A ledger written before spending existed (schema 3) migrates in place: its tasks stay, they
have no spend rows, and tasks recorded from then on reserve and settle."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain import ReplyTarget
from bot.errors import BudgetExceeded
from bot.ledger import Budget, SpendQuery, UserLimits
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
        assert await ledger._scalar("PRAGMA user_version") == SCHEMA_VERSION == 8
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


async def test_a_schema_4_ledger_moves_discord_spend_to_the_person(tmp_path: Path) -> None:
    """Before schema 5 a Discord user was one person per server: their spend in two servers
    becomes one person's, and their month's budget counts all of it."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        for step in MIGRATIONS[:4]:
            conn.executescript(step)
        marks = ", ".join("?" * len(COLUMNS))
        for n, guild in enumerate(("111", "222")):
            who = ReplyTarget("discord", guild, "C1", "7")
            task = replace(
                accepted(), task_id=f"{n}" * 32, ref=f"OLD{n}", idem_key=f"old{n}", target=who
            )
            row = list(task_to_row(replace(task, estimate=micros("0.4"), unit="USD")))
            row[COLUMNS.index("user_key")] = f"discord:{guild}:7"  # the key schema 4 wrote
            conn.execute(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", row)
        budget = ("user", "discord:111:7", "month", "USD", micros(1))
        conn.execute("INSERT INTO budgets VALUES (?, ?, ?, ?, ?)", budget)
        conn.execute("PRAGMA user_version=4")
    conn.close()
    async with SqliteLedger.open(path) as ledger:
        month = T0.replace(day=1, hour=0)
        lines = await ledger.spend(SpendQuery(since=month))
        assert [(x.key, x.tasks, x.spent) for x in lines] == [("discord:7", 2, micros("0.8"))]
        assert await ledger.budgets() == [Budget("user", "month", micros(1), "USD", "discord:7")]
        third = replace(
            accepted(), task_id="3" * 32, ref="NEW3", idem_key="new3", estimate=micros("0.4")
        )
        third = replace(third, unit="USD", target=ReplyTarget("discord", "@me", "D1", "7"))
        with pytest.raises(BudgetExceeded):
            await ledger.add(third, UserLimits(T0, month_start=month))
