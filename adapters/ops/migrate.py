"""`videobot migrate-ledger`: copy a SQLite ledger (every task, its history and its spending,
and the budgets) into the PostgreSQL ledger, in one transaction, then Slack's installations
(migrate_slack.py), so an installation moves to many processes without losing a task, what
its users spent, or a workspace's token. Rows already there (same task id) are left as they
are: running it twice copies nothing twice. The SQLite file must not be served meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from adapters.ops.migrate_slack import copy_slack_installs
from bot.config import Settings
from storage.codec import COLUMNS
from storage.postgres.connect import PgLedgerError, connect, migrate
from storage.sqlite.ledger import SqliteLedger
from storage.sqlite.lock import holder

_INSERT = (
    f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES "
    f"({', '.join('%s::jsonb' if c == 'body' else '%s' for c in COLUMNS)}) "
    "ON CONFLICT (task_id) DO NOTHING RETURNING task_id"
)


_SPEND = (
    "task_id, user_key, workspace_key, channel_key, provider, unit, created_at, reserved, "
    "actual, source, settled_at"
)
_BUDGETS = "scope, subject, period, unit, limit_micros"
Rows = list[tuple[Any, ...]]


def _read(path: Path) -> tuple[Rows, Rows, Rows, Rows, Rows]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tasks = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks ORDER BY created_at")
        events = conn.execute("SELECT task_id, at, state, detail FROM task_events ORDER BY rowid")
        spend = conn.execute(f"SELECT {_SPEND} FROM spend")
        budgets = conn.execute(f"SELECT {_BUDGETS} FROM budgets")
        seed = conn.execute("SELECT id, seeded FROM budget_seed")
        return (
            tasks.fetchall(),
            events.fetchall(),
            spend.fetchall(),
            budgets.fetchall(),
            seed.fetchall(),
        )
    finally:
        conn.close()


async def _upgraded(path: Path) -> None:
    """Bring an older ledger file to this videobot's schema first (its migrations run at
    open), so what is copied has today's columns and keys."""
    async with SqliteLedger.open(path):
        pass


async def copy_ledger(path: Path, url: str) -> tuple[int, int]:
    """Copy every task of the SQLite ledger at `path` into PostgreSQL; (copied, already there).
    Raises PgLedgerError (PostgreSQL) or sqlite3.Error (the file)."""
    await _upgraded(path)
    tasks, events, spend, budgets, seed = await asyncio.to_thread(_read, path)
    await migrate(url)
    conn = await connect(url)
    try:
        async with conn.transaction():
            copied: list[str] = []
            for row in tasks:
                cur = await conn.execute(_INSERT, row)
                if (found := await cur.fetchone()) is not None:
                    copied.append(str(found[0]))
            # The insert trigger wrote an `accepted` event for each; the file's history is
            # the true one, so it replaces them.
            await conn.execute("DELETE FROM task_events WHERE task_id = ANY(%s)", (copied,))
            mine = set(copied)
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO task_events (task_id, at, state, detail) VALUES (%s, %s, %s, %s)",
                    [event for event in events if event[0] in mine],
                )
                # What the copied tasks spent or hold, so budgets and reports carry on.
                await cur.executemany(
                    f"INSERT INTO spend ({_SPEND}) VALUES ({', '.join(['%s'] * 11)}) "
                    "ON CONFLICT (task_id) DO NOTHING",
                    [row for row in spend if row[0] in mine],
                )
                # Budgets changed in the file stay changed; ones already here stay as they are.
                await cur.executemany(
                    f"INSERT INTO budgets ({_BUDGETS}) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING",
                    budgets,
                )
                await cur.executemany(
                    "INSERT INTO budget_seed (id, seeded) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    seed,
                )
    finally:
        await conn.close()
    return len(copied), len(tasks) - len(copied)


async def run_migrate_ledger(settings: Settings, source: Path | None, out: TextIO) -> int:
    path = source or settings.ledger_path
    if settings.database_url is None:
        print("Set VIDEOBOT_DATABASE_URL to the PostgreSQL ledger to copy into.", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"There is no SQLite ledger at {path}; give its path with --from.", file=sys.stderr)
        return 2
    if (pid := holder(path)) is not None:
        print(
            f"The ledger at {path} is being served (pid {pid or 'unknown'}); stop that videobot "
            "first, so no task moves while it is copied.",
            file=sys.stderr,
        )
        return 1
    url = settings.database_url.get_secret_value()
    try:
        copied, present = await copy_ledger(path, url)
    except (PgLedgerError, sqlite3.Error) as err:
        print(f"Nothing was copied: {err}.", file=sys.stderr)
        return 1
    out.write(f"copied {copied} task(s) from {path}; {present} were there already\n")
    try:
        # Without them a distributed Slack app that moves loses every workspace's token.
        installs = await copy_slack_installs(path, url)
    except SQLAlchemyError as err:
        print(
            f"The tasks were copied, but not Slack's installations ({type(err).__name__}); "
            "run videobot migrate-ledger again once the database answers.",
            file=sys.stderr,
        )
        return 1
    if installs:
        out.write(f"copied {installs} Slack installation record(s)\n")
    return 0
