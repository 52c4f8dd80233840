"""The ledger's single writer: one SQLite connection on one dedicated thread, group commit.

Writes are single statements, queued while a commit is in progress and sent together in the
next transaction, in one hop to the writer thread; a failing statement is undone alone
(SQLite's statement-level abort) and a caller resumes only after the COMMIT that holds its
write. A burst of a thousand commands therefore costs one or two fsyncs and thread hops, not a
thousand of each. Reads go through aiosqlite on their own connection (WAL lets them run while
the writer commits). A batch that fails as a whole (disk full) is tried again with backoff for
callers that must not lose their write."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

Statement = tuple[str, tuple[Any, ...]]
Outcome = tuple[int, Exception | None]
T = TypeVar("T")

log = logging.getLogger("videobot.ledger")
# A full disk is freed by a person: retry soon at first, then every half minute at most.
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 30.0


# A statement's own fault (a UNIQUE clash, a value SQLite cannot bind): it fails alone and is
# never retried; anything else fails the whole transaction (disk full, I/O) and is retried.
_OWN_FAULT = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    UnicodeEncodeError,
    OverflowError,
)


class WriteFailed(RuntimeError):
    """The whole transaction failed (disk full, read-only file, I/O error)."""


class GroupWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        # One thread, so the connection is only ever used where it was created.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-writer")
        self._conn: sqlite3.Connection | None = None
        self._queue: list[tuple[Statement, asyncio.Future[int]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._failing = False  # the last commit failed: say so once when writes land again

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self, pragmas: list[str]) -> list[Any]:
        """Connect and run `pragmas`; returns each one's first value (None if it has none)."""
        result: list[Any] = await self._call(self._connect, pragmas)
        return result

    def _connect(self, pragmas: list[str]) -> list[Any]:
        self._conn = sqlite3.connect(self._path, isolation_level=None)
        values = []
        for pragma in pragmas:
            row = self._conn.execute(pragma).fetchone()
            values.append(None if row is None else row[0])
        return values

    async def script(self, sql: str) -> None:
        """Run a whole script (migrations) as it stands: its own BEGIN/COMMIT included."""
        await self._call(self._script, sql)

    def _script(self, sql: str) -> None:
        assert self._conn is not None
        try:
            self._conn.executescript(sql)
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    async def transaction(self, statements: list[Statement]) -> None:
        """Run `statements` together in one transaction of their own, all or nothing (the
        first that fails is raised and undoes the rest)."""
        await self._call(self._all_or_nothing, statements)

    def _all_or_nothing(self, statements: list[Statement]) -> None:
        assert self._conn is not None
        self._script("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                self._conn.execute(sql, params)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    async def close(self) -> None:
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        if self._conn is not None:
            await self._call(self._conn.close)
            self._conn = None
        self._thread.shutdown(wait=True)

    async def write(self, sql: str, params: tuple[Any, ...], attempts: int | None = None) -> int:
        """Run one statement in the next group commit; returns its row count once durable.
        Raises sqlite3.IntegrityError, or the error of a value SQLite cannot bind, for that
        statement alone. When the whole batch fails (disk full, I/O error) the statement is
        tried again with backoff, at most `attempts` times (None: until it lands), then
        WriteFailed is raised."""
        failures = 0
        while True:
            try:
                count = await self._write_once(sql, params)
            except WriteFailed as err:
                failures += 1
                if attempts is not None and failures >= attempts:
                    raise
                delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (failures - 1))
                log.debug("%s; retrying in %.1f s (attempt %d)", err, delay, failures)
                await asyncio.sleep(delay)
                continue
            return count

    async def _write_once(self, sql: str, params: tuple[Any, ...]) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(((sql, params), done))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="ledger-commit")
        return await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes: list[Outcome] = await self._call(self._apply, [s for s, _ in batch])
            except Exception as err:  # the batch failed as a whole: tell every caller
                # The disk's failure, not a bug: one plain line per failed commit, no traceback.
                log.warning(
                    "the ledger could not commit %d write(s): %s; each is tried again shortly "
                    "(free some disk space if it is full)",
                    len(batch),
                    err,
                )
                self._failing = True
                for _, done in batch:
                    if not done.done():
                        done.set_exception(WriteFailed(f"the ledger write failed: {err}"))
                continue
            if self._failing:
                self._failing = False
                log.warning("the ledger takes writes again")
            for (_, done), (count, error) in zip(batch, outcomes, strict=True):
                if done.done():
                    continue  # the caller gave up waiting; its write is committed all the same
                if error is None:
                    done.set_result(count)
                else:
                    done.set_exception(error)

    def _apply(self, statements: list[Statement]) -> list[Outcome]:
        conn = self._conn
        assert conn is not None
        outcomes: list[Outcome] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                try:
                    outcomes.append((conn.execute(sql, params).rowcount, None))
                except _OWN_FAULT as err:
                    outcomes.append((0, err))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes
