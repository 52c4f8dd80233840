"""Spending in the SQLite ledger: the spend and budgets tables (migration 4), the budget checks
the recording insert carries (so a reservation and its check are one statement), which cap
refused a task, and the spending reports. Triggers keep a task's spend row: an insert with an
estimate reserves it, and a save whose settlement changed settles it (storage/codec.py writes
the settlement into the row's body)."""

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

MIGRATION = """
CREATE TABLE spend (
    task_id       TEXT PRIMARY KEY REFERENCES tasks(task_id) ON DELETE CASCADE,
    user_key      TEXT NOT NULL,
    workspace_key TEXT NOT NULL,
    channel_key   TEXT NOT NULL,
    provider      TEXT NOT NULL,
    unit          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    reserved      INTEGER NOT NULL,
    actual        INTEGER,
    source        TEXT,
    settled_at    INTEGER
);
CREATE INDEX spend_user ON spend(user_key, created_at);
CREATE INDEX spend_workspace ON spend(workspace_key, created_at);
CREATE INDEX spend_channel ON spend(channel_key, created_at);
CREATE INDEX spend_created ON spend(created_at);
CREATE TABLE budgets (
    scope        TEXT NOT NULL CHECK (scope IN ('user', 'workspace', 'channel')),
    subject      TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
    unit         TEXT NOT NULL,
    limit_micros INTEGER NOT NULL CHECK (limit_micros >= 0),
    PRIMARY KEY (scope, subject, period, unit)
);
CREATE TRIGGER spend_reserved AFTER INSERT ON tasks
WHEN json_extract(NEW.body, '$.estimate') IS NOT NULL BEGIN
    INSERT INTO spend (task_id, user_key, workspace_key, channel_key, provider, unit,
                       created_at, reserved, actual, source, settled_at)
    VALUES (NEW.task_id, NEW.user_key,
        json_extract(NEW.body, '$.target.platform') || ':'
            || json_extract(NEW.body, '$.target.workspace_id'),
        json_extract(NEW.body, '$.target.platform') || ':'
            || json_extract(NEW.body, '$.target.channel_id'),
        coalesce(json_extract(NEW.body, '$.provider'), ''),
        json_extract(NEW.body, '$.unit'), NEW.created_at,
        json_extract(NEW.body, '$.estimate'), json_extract(NEW.body, '$.spent'),
        json_extract(NEW.body, '$.spent_source'),
        CASE WHEN json_extract(NEW.body, '$.spent') IS NULL THEN NULL ELSE NEW.updated_at END);
END;
CREATE TRIGGER spend_settled AFTER UPDATE OF body ON tasks
WHEN json_extract(NEW.body, '$.spent') IS NOT json_extract(OLD.body, '$.spent')
  OR json_extract(NEW.body, '$.spent_source') IS NOT json_extract(OLD.body, '$.spent_source')
BEGIN
    UPDATE spend SET actual = json_extract(NEW.body, '$.spent'),
                     source = json_extract(NEW.body, '$.spent_source'),
                     settled_at = NEW.updated_at
    WHERE task_id = NEW.task_id;
END;
-- What each user, workspace and channel has spent per UTC day and calendar month, kept by
-- the triggers below, so the recording insert checks a budget by reading one row instead of
-- summing a month of spend rows.
CREATE TABLE spend_totals (
    scope   TEXT NOT NULL,
    subject TEXT NOT NULL,
    unit    TEXT NOT NULL,
    period  TEXT NOT NULL,
    starts  INTEGER NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (scope, subject, unit, period, starts)
);
CREATE TRIGGER spend_totals_added AFTER INSERT ON spend BEGIN
    {add_new}
END;
CREATE TRIGGER spend_totals_settled AFTER UPDATE OF actual, reserved ON spend
WHEN coalesce(NEW.actual, NEW.reserved) != coalesce(OLD.actual, OLD.reserved) BEGIN
    {add_difference}
END;
CREATE TRIGGER spend_totals_removed AFTER DELETE ON spend BEGIN
    {take_old}
END;
"""


def _add_to_totals(row: str, amount: str) -> str:
    """The statement adding `amount` to the six totals (user, workspace, channel; day, month)
    the spend row `row` (NEW or OLD) counts in."""
    day = f"{row}.created_at - {row}.created_at % 86400000"
    month = f"strftime('%s', {row}.created_at / 1000, 'unixepoch', 'start of month') * 1000"
    values = ", ".join(
        f"('{scope}', {row}.{scope}_key, {row}.unit, '{period}', {start}, {amount})"
        for scope in ("user", "workspace", "channel")
        for period, start in (("day", day), ("month", month))
    )
    return (
        "INSERT INTO spend_totals (scope, subject, unit, period, starts, amount) VALUES "
        f"{values} ON CONFLICT (scope, subject, unit, period, starts) "
        "DO UPDATE SET amount = amount + excluded.amount;"
    )


_NEW, _OLD = "coalesce(NEW.actual, NEW.reserved)", "coalesce(OLD.actual, OLD.reserved)"
MIGRATION = MIGRATION.format(
    add_new=_add_to_totals("NEW", _NEW),
    add_difference=_add_to_totals("NEW", f"{_NEW} - {_OLD}"),
    take_old=_add_to_totals("OLD", f"-{_OLD}"),
)

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


def _subjects(task: Task) -> dict[str, str]:
    """The budget subjects a task counts against (a Discord DM is in no server: no workspace)."""
    target = task.target
    subjects = {"user": target.user_key, "channel": target.channel_key}
    if target.in_workspace:
        subjects["workspace"] = target.workspace_key
    return subjects


def budget_clauses(task: Task, limits: UserLimits) -> tuple[str, tuple[Any, ...]]:
    """`AND NOT EXISTS (...)` per scope: no budget that applies to the task's user, workspace
    or channel may be passed by its estimate; ("", ()) when nothing is to be checked."""
    if limits.month_start is None or task.estimate is None:
        return "", ()
    sql: list[str] = []
    params: list[Any] = []
    for scope, subject in _subjects(task).items():
        if scope == "user" and not limits.user_budgets:
            continue
        sql.append(
            f" AND NOT EXISTS (SELECT 1 FROM budgets b WHERE b.scope = '{scope}' AND b.unit = ?"
            " AND (b.subject = ? OR (b.subject = '*' AND NOT EXISTS (SELECT 1 FROM budgets o"
            " WHERE o.scope = b.scope AND o.period = b.period AND o.unit = b.unit"
            " AND o.subject = ?)))"
            " AND ? + coalesce((SELECT t.amount FROM spend_totals t WHERE t.scope = b.scope"
            " AND t.subject = ? AND t.unit = b.unit AND t.period = b.period"
            " AND t.starts = CASE b.period WHEN 'day' THEN ? ELSE ? END), 0) > b.limit_micros)"
        )
        params.extend(
            (task.unit, subject, subject, task.estimate, subject)
            + (to_ms(limits.day_start), to_ms(limits.month_start))
        )
    return "".join(sql), tuple(params)


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
    subjects = _subjects(task)
    for scope, subject, period, limit in stored:
        own = subjects.get(scope)
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
