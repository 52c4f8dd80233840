"""Spending in the PostgreSQL ledger (tables: storage/postgres/spend_schema.py): the budget
check inside the recording transaction, and the reports. The rules (which budgets apply, what
counts as spent, how reports group) are shared with the SQLite ledger
(storage/spend_rules.py), run here through a connection that speaks psycopg's placeholders.
A task's spend row is written with the task; a trigger settles it whenever the body's
settlement changes (storage/codec.py)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.ledger import Budget, SpendLine, SpendQuery, UserLimits
from bot.pricing import settlement
from bot.task import Task
from storage import spend_rules as rules
from storage.codec import to_ms
from storage.postgres.schema import BUDGET_LOCK_CLASS

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

INSERT_SPEND = (
    "INSERT INTO spend (task_id, user_key, workspace_key, channel_key, provider, unit,"
    " created_at, reserved, actual, source, settled_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
# A row's UTC date, as the reports group it.
DAY = "to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def _pg(query: str) -> str:
    return query.replace("?", "%s")


async def lock_subjects(conn: Conn, task: Task) -> None:
    """Serialise every recording that a workspace's or a channel's budget compares, across
    processes (the per-user lock covers the user's own budgets). Taken in one order, so two
    recordings never wait on each other."""
    keys = [task.target.workspace_key, task.target.channel_key]
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, h) FROM"
        " (SELECT DISTINCT hashtext(k) AS h FROM unnest(%s::text[]) AS k ORDER BY 1) AS o",
        (BUDGET_LOCK_CLASS, keys),
    )


async def check_caps(conn: Conn, task: Task, limits: UserLimits) -> None:
    """Raise QuotaExceeded (BudgetExceeded for a budget) when the user is at one of `limits`
    or the task's estimate would pass a budget: the SQLite ledger's rules, in its order, under
    this transaction's locks."""

    async def rows(query: str, params: tuple[Any, ...]) -> list[Any]:
        cur = await conn.execute(_pg(query), params)
        return await cur.fetchall()

    if (refused := await rules.refusal(rows, task, limits)) is not None:
        raise refused


async def reserve(conn: Conn, task: Task) -> None:
    """The task's spend row, in the transaction that records it: its estimate reserved (or,
    for a task recorded already settled, its settlement)."""
    if task.estimate is None:
        return
    target = task.target
    settled = settlement(task)
    actual, source = settled if settled is not None else (None, None)
    await conn.execute(
        INSERT_SPEND,
        (
            task.task_id,
            target.user_key,
            target.workspace_key,
            target.channel_key,
            task.provider or "",
            task.unit,
            to_ms(task.created_at),
            task.estimate,
            actual,
            source,
            to_ms(task.updated_at) if settled is not None else None,
        ),
    )


class PgSpending:
    """The Ledger port's spending methods (a part of PgLedger)."""

    _pool: AsyncConnectionPool[Conn]

    async def set_budgets(self, stored: list[Budget]) -> None:
        # One transaction: no moment without budgets, and a failure leaves the old ones; one
        # writer at a time, or two processes' deletes and inserts collide on the same keys.
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("LOCK TABLE budgets IN EXCLUSIVE MODE")
            for statement, params in rules.replacing(stored):
                await conn.execute(_pg(statement), params)

    async def seed_budgets(self, stored: list[Budget]) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            # One seeding at a time: processes starting together agree on what was there.
            await conn.execute("LOCK TABLE budget_seed, budgets IN EXCLUSIVE MODE")
            before = await (await conn.execute(rules.SELECT_SEED)).fetchall()
            for statement, params in rules.seeding(stored):
                await conn.execute(_pg(statement), params)
        return not before or before[0][0] != rules.seed_of(stored)

    async def budgets(self) -> list[Budget]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(rules.SELECT_BUDGETS)
            return [rules.read_budget(r) for r in await cur.fetchall()]

    async def spend(self, query: SpendQuery) -> list[SpendLine]:
        statement, params = rules.spend_statement(query, day=DAY)
        async with self._pool.connection() as conn:
            cur = await conn.execute(_pg(statement), params)
            return [rules.spend_line(r) for r in await cur.fetchall()]
