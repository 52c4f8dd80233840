"""The spending rules both ledgers share (storage/sqlite/, storage/postgres/): which budgets
a task counts against, which cap refused a task, what counts as spent, how budgets are replaced
and seeded, and how the reports group. Plain SQL with `?` placeholders over the spend and budgets
tables both backends create alike; the PostgreSQL ledger runs it with its own placeholders."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import LIVE_STATES
from bot.errors import BudgetExceeded, QuotaExceeded
from bot.ledger import Budget, SpendLine, SpendQuery, UserLimits
from bot.task import Task
from storage.codec import to_ms

Rows = Callable[[str, tuple[Any, ...]], Awaitable[list[Any]]]

LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
# A row counts its settled amount once known, else what it reserved.
SPENT = "coalesce(s.actual, s.reserved)"
_COLUMNS = {"user": "user_key", "workspace": "workspace_key", "channel": "channel_key"}
_GROUPS = {
    "user": "user_key",
    "workspace": "workspace_key",
    "channel": "channel_key",
    "provider": "provider",
    "day": "date(created_at / 1000, 'unixepoch')",
}
GROUPINGS = tuple(_GROUPS)


def subjects(task: Task) -> dict[str, str]:
    """The budget subjects a task counts against (a Discord DM is in no server: no workspace)."""
    target = task.target
    subjects = {"user": target.user_key, "channel": target.channel_key}
    if target.in_workspace:
        subjects["workspace"] = target.workspace_key
    return subjects


async def refusal(rows: Rows, task: Task, limits: UserLimits) -> QuotaExceeded | None:
    """Which cap refused `task`'s insert: the user's concurrent tasks, a budget, the daily
    count; None when none holds it back any more (the caller tries again)."""
    user = task.target.user_key
    if limits.concurrent is not None:
        found = await rows(
            f"SELECT COUNT(*) FROM tasks WHERE user_key = ? AND state IN ({LIVE})", (user,)
        )
        if int(found[0][0]) >= limits.concurrent:
            return QuotaExceeded("concurrent limit", "concurrent", limits.concurrent)
    if over := await refusing_budget(rows, task, limits):
        return over
    if limits.daily is not None:
        found = await rows(
            "SELECT COUNT(*) FROM tasks WHERE user_key = ? AND created_at >= ? "
            "AND state != 'rejected'",
            (user, to_ms(limits.day_start)),
        )
        if int(found[0][0]) >= limits.daily:
            return QuotaExceeded("daily limit", "daily", limits.daily)
    return None


async def refusing_budget(rows: Rows, task: Task, limits: UserLimits) -> BudgetExceeded | None:
    """The budget the task's estimate would pass, with what was spent, or None."""
    if limits.month_start is None or task.estimate is None:
        return None
    stored = await rows(
        "SELECT scope, subject, period, limit_micros FROM budgets WHERE unit = ?", (task.unit,)
    )
    named = {(scope, subject, period) for scope, subject, period, _ in stored}
    theirs = subjects(task)
    for scope, subject, period, limit in stored:
        own = theirs.get(scope)
        if own is None or (scope == "user" and not limits.user_budgets):
            continue
        if subject not in (own, "*") or (subject == "*" and (scope, own, period) in named):
            continue  # another's budget, or a default this subject has its own in place of
        start = limits.day_start if period == "day" else limits.month_start
        found = await rows(
            f"SELECT coalesce(SUM({SPENT}), 0) FROM spend s WHERE s.{_COLUMNS[scope]} = ?"
            " AND s.unit = ? AND s.created_at >= ?",
            (own, task.unit, to_ms(start)),
        )
        spent = int(found[0][0])
        if spent + task.estimate > limit:
            what = f"{scope} {period} budget"
            return BudgetExceeded(what, scope, period, limit, spent, task.unit)
    return None


INSERT_BUDGET = (
    "INSERT INTO budgets (scope, subject, period, unit, limit_micros) VALUES (?, ?, ?, ?, ?)"
)
SELECT_BUDGETS = "SELECT scope, subject, period, unit, limit_micros FROM budgets ORDER BY 1, 2, 3"


def replacing(budgets: list[Budget]) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that replace every stored budget with `budgets`."""
    rows = [(b.scope, b.subject, b.period, b.unit, b.limit) for b in budgets]
    return [("DELETE FROM budgets", ()), *((INSERT_BUDGET, row) for row in rows)]


SELECT_SEED = "SELECT seeded FROM budget_seed WHERE id = 1"


def seed_of(budgets: list[Budget]) -> str:
    """The budgets as one comparable text, whatever their order."""
    return json.dumps(sorted([b.scope, b.subject, b.period, b.unit, b.limit] for b in budgets))


def seeding(budgets: list[Budget]) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that replace the stored budgets with `budgets` and remember them as
    seeded, each a no-op when they are what was seeded last (one transaction)."""
    seed = seed_of(budgets)
    fresh = "NOT EXISTS (SELECT 1 FROM budget_seed WHERE id = 1 AND seeded = ?)"
    inserts = [
        (
            "INSERT INTO budgets (scope, subject, period, unit, limit_micros) "
            f"SELECT ?, ?, ?, ?, ? WHERE {fresh}",
            (b.scope, b.subject, b.period, b.unit, b.limit, seed),
        )
        for b in budgets
    ]
    return [
        (f"DELETE FROM budgets WHERE {fresh}", (seed,)),
        *inserts,
        (
            "INSERT INTO budget_seed (id, seeded) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET seeded = excluded.seeded",
            (seed,),
        ),
    ]


def read_budget(row: Any) -> Budget:
    scope, subject, period, unit, limit = row
    return Budget(scope=scope, period=period, limit=int(limit), unit=unit, subject=subject)


def spend_statement(
    query: SpendQuery, day: str = _GROUPS["day"]
) -> tuple[str, tuple[Any, ...]]:
    """The report query; `day` is the backend's expression for a row's UTC date."""
    groups = {**_GROUPS, "day": day}
    if query.by not in groups:
        raise ValueError(f"cannot group spending by {query.by!r}; use one of {GROUPINGS}")
    where = "created_at >= ?"
    params: list[Any] = [to_ms(query.since)]
    for column, value in (
        ("user_key", query.user_key),
        ("workspace_key", query.workspace_key),
        ("channel_key", query.channel_key),
    ):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    sql = (
        f"SELECT {groups[query.by]} AS k, unit, COUNT(*), SUM({SPENT}),"
        " SUM(CASE WHEN s.actual IS NULL THEN s.reserved ELSE 0 END)"
        f" FROM spend s WHERE {where} GROUP BY k, unit ORDER BY 4 DESC, k"
    )
    return sql, tuple(params)


def spend_line(row: Any) -> SpendLine:
    key, unit, tasks, spent, held = row
    return SpendLine(key=str(key), unit=unit, tasks=int(tasks), spent=int(spent), held=int(held))
