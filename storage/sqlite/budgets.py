"""Spending in the SQLite ledger: the spend and budgets tables (migration 4) and the budget
checks the recording insert carries, so a reservation and its check are one statement (the
rules both ledgers share are in storage/spend_rules.py). Triggers keep a task's spend row: an
insert with an estimate reserves it, and a save whose settlement changed settles it
(storage/codec.py writes the settlement into the row's body); running totals per user,
workspace and channel let the insert check a budget by reading one row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.ledger import UserLimits
from bot.task import Task
from storage.codec import to_ms
from storage.spend_rules import subjects

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


def budget_clauses(task: Task, limits: UserLimits) -> tuple[str, tuple[Any, ...]]:
    """`AND NOT EXISTS (...)` per scope: no budget that applies to the task's user, workspace
    or channel may be passed by its estimate; ("", ()) when nothing is to be checked."""
    if limits.month_start is None or task.estimate is None:
        return "", ()
    sql: list[str] = []
    params: list[Any] = []
    for scope, subject in subjects(task).items():
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
