"""The SQL the SQLite ledger runs on every add and save, built once: the insert (with the
per-user caps read in the same statement) and the version-guarded update."""

from __future__ import annotations

from typing import Any

from bot.domain import LIVE_STATES, RENDERING_STATES
from bot.ledger import UserLimits
from bot.task import Task
from storage.codec import COLUMNS, task_to_row, to_ms
from storage.sqlite.budgets import budget_clauses

SELECT = f"SELECT {', '.join(COLUMNS)} FROM tasks"
FAIR_WINDOW = 256
ADD_ATTEMPTS = 3
LIVE = ", ".join(f"'{s.value}'" for s in LIVE_STATES)
RENDERING = ", ".join(f"'{s.value}'" for s in sorted(RENDERING_STATES))
INSERT = (
    f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT(idem_key) DO NOTHING"
)
# The caps are read in the statement that inserts, so concurrent commands cannot both pass;
# the budgets' checks join them there, and the insert's trigger reserves the estimate.
_DAILY = (
    "(SELECT COUNT(*) FROM tasks WHERE user_key = ? AND created_at >= ? "
    "AND state != 'rejected') < ?"
)
_CONCURRENT = f"(SELECT COUNT(*) FROM tasks WHERE user_key = ? AND state IN ({LIVE})) < ?"
_LIMITED = f"INSERT INTO tasks ({', '.join(COLUMNS)}) SELECT {', '.join('?' * len(COLUMNS))} "


def insert_statement(task: Task, limits: UserLimits | None) -> tuple[str, tuple[Any, ...]]:
    row = task_to_row(task)
    if limits is None:
        return INSERT, row
    user = task.target.user_key
    checks: list[str] = ["1"]
    params: list[Any] = list(row)
    if limits.daily is not None:
        checks.append(_DAILY)
        params += (user, to_ms(limits.day_start), limits.daily)
    if limits.concurrent is not None:
        checks.append(_CONCURRENT)
        params += (user, limits.concurrent)
    budgets, spent = budget_clauses(task, limits)
    sql = f"{_LIMITED}WHERE {' AND '.join(checks)}{budgets} ON CONFLICT(idem_key) DO NOTHING"
    return sql, (*params, *spent)


UPDATE = (
    "UPDATE tasks SET state=?, version=?, updated_at=?, next_check_at=?, provider_task_id=?, "
    "body=? WHERE task_id=? AND version=?"
)
