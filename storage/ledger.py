"""SQLite task ledger (aiosqlite): WAL, synchronous=FULL, migrations by PRAGMA user_version,
guarded transitions (UPDATE ... WHERE version=?), and the one `due` query the worker runs on."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.domain import Task, new_ref
from bot.ports import TaskQuery
from storage.codec import COLUMNS, from_ms, row_to_task, task_to_row, to_ms

MIGRATIONS: tuple[str, ...] = (
    # 1: tasks and their history
    """
    CREATE TABLE tasks (
        task_id          TEXT PRIMARY KEY,
        ref              TEXT NOT NULL UNIQUE,
        idem_key         TEXT NOT NULL UNIQUE,
        state            TEXT NOT NULL,
        version          INTEGER NOT NULL,
        user_key         TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        next_check_at    INTEGER,
        provider_task_id TEXT,
        body             TEXT NOT NULL
    );
    CREATE INDEX tasks_due ON tasks(next_check_at) WHERE next_check_at IS NOT NULL;
    CREATE INDEX tasks_user_day ON tasks(user_key, created_at);
    CREATE INDEX tasks_state ON tasks(state);
    CREATE TABLE task_events (
        task_id  TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
        at       INTEGER NOT NULL,
        state    TEXT NOT NULL,
        detail   TEXT
    );
    CREATE INDEX task_events_task ON task_events(task_id, at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM tasks"
_UPDATE = (
    "UPDATE tasks SET state=?, version=?, updated_at=?, next_check_at=?, provider_task_id=?, "
    "body=? WHERE task_id=? AND version=?"
)


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or written (read-only, full disk, newer schema)."""


class SqliteLedger:
    """The Ledger port on one SQLite file. One connection; one writer at a time."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        # aiosqlite runs one thread per connection and coroutines sharing it interleave:
        # a lock keeps each BEGIN..COMMIT whole.
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[SqliteLedger]:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as err:
            raise LedgerError(f"cannot open the ledger at {path}: {err}") from err
        try:
            ledger = cls(conn)
            await ledger._prepare(path)
            yield ledger
        finally:
            await conn.close()

    async def _prepare(self, path: Path) -> None:
        try:
            await self._conn.execute("PRAGMA busy_timeout=5000")
            mode = await self._scalar("PRAGMA journal_mode=WAL")
            # FULL: an `accepted` or `submitting` row lost to a power cut can mean a lost
            # request or a second charge; one fsync per commit costs nothing at chat volume.
            await self._conn.execute("PRAGMA synchronous=FULL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
            # Prove now, not mid-task, that the file takes writes (read-only mount, full disk).
            await self._conn.execute("BEGIN IMMEDIATE")
            await self._conn.execute("CREATE TEMP TABLE IF NOT EXISTS _probe(x)")
            await self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            raise LedgerError(f"the ledger at {path} is not usable: {err}") from err
        if str(mode).lower() != "wal":
            raise LedgerError(
                f"the ledger at {path} cannot use WAL (journal_mode={mode}); "
                "keep it on a local disk, not a network filesystem"
            )

    async def _migrate(self) -> None:
        version = int(await self._scalar("PRAGMA user_version"))
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger's schema is version {version}, newer than this videobot "
                f"({SCHEMA_VERSION}); upgrade videobot"
            )
        for number in range(version, SCHEMA_VERSION):
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        await self._conn.execute(statement)
                await self._conn.execute(f"PRAGMA user_version={number + 1}")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        async with self._conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    # -- the Ledger port ---------------------------------------------------------------------
    async def add(self, task: Task) -> tuple[Task, bool]:
        for _ in range(8):
            try:
                async with self._write() as conn:
                    cursor = await conn.execute(
                        f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(COLUMNS))}) ON CONFLICT(idem_key) DO NOTHING",
                        task_to_row(task),
                    )
                    if cursor.rowcount == 1:
                        await self._event(conn, task, "accepted")
                        return task, True
                existing = await self._one("idem_key = ?", (task.idem_key,))
                assert existing is not None, "a conflicting idem_key row exists"
                return existing, False
            except sqlite3.IntegrityError:
                task = replace(task, ref=new_ref())  # a reference collision: draw again
        raise LedgerError("could not draw a free task reference")

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = replace(new, version=old.version + 1)
        row = task_to_row(stored)
        async with self._write() as conn:
            cursor = await conn.execute(
                _UPDATE, (row[3], row[4], row[7], row[8], row[9], row[10], old.task_id, old.version)
            )
            if cursor.rowcount != 1:
                return None
            if old.state != new.state:
                await self._event(conn, stored, new.note or new.error_message)
        return stored

    async def get(self, ref_or_id: str) -> Task | None:
        key = ref_or_id.strip()
        return await self._one("ref = ? OR task_id = ?", (key.upper(), key.lower()))

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        # Round-robin across users: each user's rows are numbered oldest first and the batch
        # takes every user's first row before anyone's second, so one user's burst of twenty
        # never makes another user's single task wait behind all of it.
        skip = f"AND task_id NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM (SELECT *, ROW_NUMBER() OVER "
            "(PARTITION BY user_key ORDER BY next_check_at) AS lane FROM tasks "
            f"WHERE next_check_at <= ? {skip}) ORDER BY lane, next_check_at LIMIT ?"
        )
        async with self._conn.execute(sql, (to_ms(now), *exclude, limit)) as cursor:
            return [row_to_task(r) for r in await cursor.fetchall()]

    async def next_due_at(self) -> datetime | None:
        return from_ms(await self._scalar("SELECT MIN(next_check_at) FROM tasks"))

    async def find(self, query: TaskQuery) -> list[Task]:
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if query.states:
            where.append(f"state IN ({', '.join('?' * len(query.states))})")
            params.extend(s.value for s in query.states)
        if query.user_key:
            where.append("user_key = ?")
            params.append(query.user_key)
        if query.since:
            where.append("created_at >= ?")
            params.append(to_ms(query.since))
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?"
        async with self._conn.execute(sql, (*params, query.limit)) as cursor:
            return [row_to_task(r) for r in await cursor.fetchall()]

    # -- beyond the port: operator views -----------------------------------------------------
    async def history(self, task_id: str) -> list[tuple[datetime, str, str | None]]:
        async with self._conn.execute(
            "SELECT at, state, detail FROM task_events WHERE task_id = ? ORDER BY rowid",
            (task_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            (from_ms(at) or datetime.fromtimestamp(0, UTC), state, detail)
            for at, state, detail in rows
        ]

    async def count_by_state(self) -> dict[str, int]:
        async with self._conn.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state") as cur:
            return {state: count for state, count in await cur.fetchall()}

    async def integrity_check(self) -> str:
        return str(await self._scalar("PRAGMA integrity_check"))

    async def _one(self, where: str, params: tuple[Any, ...]) -> Task | None:
        async with self._conn.execute(f"{_SELECT} WHERE {where} LIMIT 1", params) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row_to_task(row)

    @staticmethod
    async def _event(conn: aiosqlite.Connection, task: Task, detail: str | None) -> None:
        await conn.execute(
            "INSERT INTO task_events (task_id, at, state, detail) VALUES (?, ?, ?, ?)",
            (task.task_id, to_ms(task.updated_at), task.state.value, detail),
        )

