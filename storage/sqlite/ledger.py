"""SQLite task ledger (aiosqlite): WAL, synchronous=FULL, migrations by PRAGMA user_version,
guarded transitions (UPDATE ... WHERE version=?), and the one `due` query the worker runs on."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain import TaskState, new_ref
from bot.errors import LedgerUnavailable
from bot.ledger import TaskQuery, UserLimits
from bot.task import Task
from storage import spend_rules
from storage.codec import COLUMNS, from_ms, row_to_task, task_to_row, to_ms
from storage.sqlite import leases
from storage.sqlite.held import SqliteHeld
from storage.sqlite.prices import SqlitePrices
from storage.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from storage.sqlite.slots import LocalSlots
from storage.sqlite.spending import SqliteSpending, SqliteViews
from storage.sqlite.statements import (
    ADD_ATTEMPTS,
    FAIR_WINDOW,
    LIVE,
    RENDERING,
    SELECT,
    UPDATE,
    insert_statement,
)
from storage.sqlite.writer import GroupWriter, WriteFailed


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or written (read-only, full disk, newer schema)."""


class SqliteLedger(SqliteHeld, SqlitePrices, SqliteSpending, SqliteViews):
    """The Ledger port on one SQLite file: reads through aiosqlite, every write through one
    group-committing writer (storage/sqlite/writer.py). Each write is a single statement: triggers
    keep the history, so a transition needs nothing more."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        writer: GroupWriter,
        platforms: frozenset[str] | None = None,
        provider: str | None = None,
    ) -> None:
        self._conn = conn
        self._writer = writer
        self._slots = LocalSlots(self._scalar)
        # A process serving some platforms claims and searches only their tasks (the demo
        # never submits a Slack task it cannot post); None sees every task (operator views).
        self._scope = ""
        self._scope_params: tuple[str, ...] = ()
        if platforms is not None:
            marks = ", ".join("?" * len(platforms))
            self._scope = f" AND substr(user_key, 1, instr(user_key, ':') - 1) IN ({marks})"
            self._scope_params = tuple(sorted(platforms))
        # A worker works only its own provider's tasks (another's API would lose them, though
        # paid for); a task from before tasks recorded their provider is anyone's.
        self._work_scope, self._work_params = self._scope, self._scope_params
        if provider is not None:
            self._work_scope += " AND coalesce(json_extract(body, '$.provider'), '') IN ('', ?)"
            self._work_params += (provider,)

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: Path, platforms: frozenset[str] | None = None, provider: str | None = None
    ) -> AsyncIterator[SqliteLedger]:
        # The writer connects first: a plain sqlite3 connect fails cleanly, whereas a failed
        # aiosqlite connect leaves its thread behind.
        writer = GroupWriter(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = await writer.open(
                [
                    "PRAGMA busy_timeout=5000",
                    "PRAGMA journal_mode=WAL",
                    # FULL: an `accepted` or `submitting` row lost to a power cut can mean a
                    # lost request or a second charge; group commit makes the fsync cheap.
                    "PRAGMA synchronous=FULL",
                    "PRAGMA foreign_keys=ON",
                ]
            )
            if str(mode[1]).lower() != "wal":
                raise LedgerError(
                    f"the ledger at {path} cannot use WAL (journal_mode={mode[1]}); "
                    "keep it on a local disk, not a network filesystem"
                )
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error, LedgerError) as err:
            await writer.close()
            if isinstance(err, LedgerError):
                raise
            raise LedgerError(f"cannot open the ledger at {path}: {err}") from err
        ledger = cls(conn, writer, platforms, provider)
        try:
            await ledger._prepare(path)
            yield ledger
        finally:
            await writer.close()
            await conn.close()

    async def _prepare(self, path: Path) -> None:
        try:
            await self._rows("PRAGMA busy_timeout=5000")
            await self._migrate()
            # Prove now, not mid-task, that the file takes writes (read-only mount, full disk).
            await self._writer.script(
                f"BEGIN IMMEDIATE; PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )
        except sqlite3.Error as err:
            raise LedgerError(f"the ledger at {path} is not usable: {err}") from err

    async def _migrate(self) -> None:
        version = int(await self._scalar("PRAGMA user_version"))
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger's schema is version {version}, newer than this videobot "
                f"({SCHEMA_VERSION}); upgrade videobot"
            )
        for number in range(version, SCHEMA_VERSION):
            # One script per step (triggers hold semicolons), all or nothing.
            step = f"{MIGRATIONS[number]};PRAGMA user_version={number + 1};"
            await self._writer.script(f"BEGIN IMMEDIATE;{step}COMMIT;")

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        # Run and drain the statement in one hop to the reader thread. A statement left open
        # across hops (execute, then fetch later) keeps the connection's read transaction, and
        # with it a WAL snapshot, alive; every other coroutine's read then shares that snapshot
        # and misses writes committed since. Drained at once, each read starts a fresh one.
        return list(await self._conn.execute_fetchall(sql, params))

    async def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _write(self, sql: str, params: tuple[Any, ...], attempts: int | None) -> int:
        try:
            return await self._writer.write(sql, params, attempts)
        except WriteFailed as err:
            raise LedgerUnavailable(str(err)) from err

    # -- the Ledger port ---------------------------------------------------------------------
    async def add(self, task: Task, limits: UserLimits | None = None) -> tuple[Task, bool]:
        for _ in range(8):
            sql, params = insert_statement(task, limits)
            try:
                # A new command is answered, not held: a few tries, then the user is told.
                if await self._write(sql, params, ADD_ATTEMPTS) == 1:
                    return task, True
            except sqlite3.IntegrityError:
                task = replace(task, ref=new_ref())  # a reference collision: draw again
                continue
            existing = await self._one("idem_key = ?", (task.idem_key,))
            if existing is not None:
                return existing, False
            assert limits is not None, "an insert without limits only fails on a duplicate"
            refused = await spend_rules.refusal(self._rows, task, limits)
            if refused is not None:
                raise refused
            # No cap holds it back now (a task ended meanwhile): try the insert again.
        raise LedgerError("could not draw a free task reference")

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = replace(new, version=old.version + 1)
        row = task_to_row(stored)
        params = (row[3], row[4], row[7], row[8], row[9], row[10], old.task_id, old.version)
        # A transition must not be lost: it waits (retrying) until the disk takes it.
        return stored if await self._write(UPDATE, params, None) == 1 else None

    async def get(self, ref_or_id: str) -> Task | None:
        key = ref_or_id.strip()
        return await self._one("ref = ? OR task_id = ?", (key.upper(), key.lower()))

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        # Round-robin across users (every user's first row before anyone's second), so one
        # user's burst never starves another's single task; numbered over the oldest due rows
        # only (the tasks_due index), so a claim stays cheap with 10,000 rows due.
        skip = f"AND task_id NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
        window = max(FAIR_WINDOW, limit * 8)
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM (SELECT *, ROW_NUMBER() OVER "
            "(PARTITION BY user_key ORDER BY next_check_at) AS lane FROM "
            "(SELECT * FROM tasks WHERE next_check_at <= ? AND (lease_until IS NULL OR "
            f"lease_until <= ?) {skip}{self._work_scope} "
            "ORDER BY next_check_at LIMIT ?)) ORDER BY lane, next_check_at LIMIT ?"
        )
        params = (to_ms(now), to_ms(now), *exclude, *self._work_params, window, limit)
        rows = await self._rows(sql, params)
        return [row_to_task(r) for r in rows]

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Task]:
        return await leases.claim(self, now, limit, lease)

    async def renew(self, task_id: str, held_until: datetime, until: datetime) -> bool:
        return await leases.renew(self, task_id, held_until, until)

    async def release(self, task_id: str, held_until: datetime) -> None:
        await leases.release(self, task_id, held_until)

    async def drop_leases(self) -> int:
        """Forget every lease (its holder is dead): for the owner of the file's lock only."""
        return await self._write(leases.DROP, (), None)

    async def count(
        self, states: frozenset[TaskState], created_before: datetime | None = None
    ) -> int:
        sql = f"SELECT COUNT(*) FROM tasks WHERE state IN ({', '.join('?' * len(states))})"
        params: list[Any] = [s.value for s in states]
        if created_before is not None:
            sql += " AND created_at < ?"
            params.append(to_ms(created_before))
        return int(await self._scalar(sql, tuple(params)))

    async def take_slot(self, task_id: str, cap: int, now: datetime, until: datetime) -> bool:
        return await self._slots.take(task_id, cap, now, until)

    async def release_slot(self, task_id: str) -> None:
        self._slots.release(task_id)

    async def next_due_at(self, after: datetime | None = None) -> datetime | None:
        # `IS NOT NULL` lets SQLite answer from the partial tasks_due index, not a table scan.
        sql = (
            "SELECT MIN(next_check_at) FROM tasks WHERE next_check_at IS NOT NULL"
            + self._work_scope
        )
        if after is None:
            return from_ms(await self._scalar(sql, self._work_params))
        sql += " AND next_check_at > ?"
        return from_ms(await self._scalar(sql, (*self._work_params, to_ms(after))))

    async def make_due(self, provider_task_id: str, now: datetime) -> str | None:
        found = await self._rows(
            f"SELECT task_id FROM tasks WHERE provider_task_id = ? AND state IN ({RENDERING})"
            f"{self._scope} LIMIT 1",
            (provider_task_id, *self._scope_params),
        )
        if not found:
            return None
        task_id = str(found[0][0])
        # Guarded by the state, not the version: a row that moved on meanwhile is left alone,
        # and a worker holding the row's version can still save its step.
        sql = (
            "UPDATE tasks SET next_check_at = MIN(coalesce(next_check_at, ?), ?) "
            f"WHERE task_id = ? AND state IN ({RENDERING})"
        )
        params = (to_ms(now), to_ms(now), task_id)
        # A callback is answered, not held: a few tries, then the provider is told to retry.
        return task_id if await self._write(sql, params, ADD_ATTEMPTS) == 1 else None

    async def find(self, query: TaskQuery) -> list[Task]:
        where: list[str] = ["1=1" + self._scope]
        params: list[Any] = list(self._scope_params)
        if query.states:
            where.append(f"state IN ({', '.join('?' * len(query.states))})")
            params.extend(s.value for s in query.states)
        if query.user_key:
            where.append("user_key = ?")
            params.append(query.user_key)
        if query.idem_key:
            where.append("idem_key = ?")
            params.append(query.idem_key)
        if query.since:
            where.append("created_at >= ?")
            params.append(to_ms(query.since))
        sql = f"{SELECT} WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?"
        return [row_to_task(r) for r in await self._rows(sql, (*params, query.limit))]

    async def media_in_use(self, ended_since: datetime) -> frozenset[str]:
        # Not scoped to this process's platforms: a file another platform's task needs is in use.
        rows = await self._rows(
            "SELECT json_extract(m.value, '$.path') FROM tasks, json_each(tasks.body, "
            "'$.request.images') AS m WHERE (state IN (" + LIVE + ") OR updated_at >= ?)"
            " UNION SELECT json_extract(body, '$.request.video.path') FROM tasks"
            " WHERE (state IN (" + LIVE + ") OR updated_at >= ?)",
            (to_ms(ended_since), to_ms(ended_since)),
        )
        return frozenset(path for (path,) in rows if path)

    async def integrity_check(self) -> str:
        return str(await self._scalar("PRAGMA integrity_check"))

    async def _one(self, where: str, params: tuple[Any, ...]) -> Task | None:
        rows = await self._rows(f"{SELECT} WHERE {where} LIMIT 1", params)
        return row_to_task(rows[0]) if rows else None
