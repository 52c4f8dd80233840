"""The Ledger port on PostgreSQL (psycopg 3, one async pool): the same rows and contract as the
SQLite ledger, for several processes on several machines. Caps are checked and the row inserted
under a per-user advisory lock; claims are leases taken with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot.dburl import redacted
from bot.domain import TaskState, new_ref
from bot.errors import LedgerUnavailable
from bot.ledger import TaskQuery, UserLimits
from bot.task import Task
from storage.codec import from_ms, row_to_task, task_to_row, to_ms
from storage.postgres import spend
from storage.postgres import statements as sql
from storage.postgres.caps import lock_user
from storage.postgres.connect import PgLedgerError, migrate
from storage.postgres.held import PgHeld
from storage.postgres.listen import listen
from storage.postgres.prices import PgPrices
from storage.postgres.schema import CHANNEL
from storage.postgres.slots import PgSlots
from storage.postgres.views import PgViews

log = logging.getLogger("videobot.ledger")
T = TypeVar("T")
Conn = psycopg.AsyncConnection[tuple[Any, ...]]
ADD_ATTEMPTS = 3
_TRANSIENT = (psycopg.OperationalError, PoolTimeout)
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 30.0


class PgLedger(spend.PgSpending, PgPrices, PgSlots, PgHeld, PgViews):
    """Each method is one statement or one short transaction on a pooled connection; a lost
    connection is retried (until it lands for a transition), then LedgerUnavailable."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        platforms: frozenset[str] | None,
        url: str = "",
        provider: str | None = None,
    ) -> None:
        self._pool = pool
        self._url = url
        self._platforms = sorted(platforms) if platforms is not None else None
        self._provider = provider

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        platforms: frozenset[str] | None = None,
        *,
        max_size: int = 8,
        provider: str | None = None,
    ) -> AsyncIterator[PgLedger]:
        """Migrate (once, whoever is first) and open the pool; PgLedgerError when the server
        cannot be reached or its schema is newer than this videobot. With `provider`, claims
        take only that provider's tasks (and those that recorded none)."""
        await migrate(url)
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            open=False,
            name="videobot-ledger",
        )
        try:
            await pool.open(wait=True, timeout=10)
        except PoolTimeout:
            raise PgLedgerError(
                f"cannot reach the PostgreSQL ledger at {redacted(url)}; check "
                "VIDEOBOT_DATABASE_URL and that the server is running"
            ) from None
        try:
            yield cls(pool, platforms, url, provider)
        finally:
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool[Conn]:
        """The connections, for what shares this database (Slack's edit budget)."""
        return self._pool

    # -- plumbing ----------------------------------------------------------------------------
    def _scoped(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self._platforms is None:
            return "", params
        return sql.SCOPE, {**params, "platforms": self._platforms}

    def _working(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The scope of what this process's worker may claim: its platforms and its provider."""
        scope, params = self._scoped(params)
        if self._provider is None:
            return scope, params
        return scope + sql.PROVIDER_SCOPE, {**params, "provider": self._provider}

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], attempts: int | None) -> T:
        failures = 0
        while True:
            try:
                return await attempt()
            except _TRANSIENT as err:
                failures += 1
                if attempts is not None and failures >= attempts:
                    raise LedgerUnavailable(f"the ledger cannot be reached: {err}") from None
                delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (failures - 1))
                log.warning("the ledger did not answer (%s); trying again in %.1f s", err, delay)
                await asyncio.sleep(delay)

    async def _rows(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async def once() -> list[tuple[Any, ...]]:
            async with self._pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description else []

        return await self._retrying(once, ADD_ATTEMPTS)

    async def _scalar(self, query: str, params: Any = None) -> Any:
        return rows[0][0] if (rows := await self._rows(query, params)) else None

    async def _one(self, where: str, params: Any) -> Task | None:
        found = await self._rows(f"{sql.SELECT} WHERE {where} LIMIT 1", params)
        return row_to_task(found[0]) if found else None

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call `wake()` whenever another process records new work or a cancel."""
        await listen(self._url, wake, stop)

    async def notify(self, reason: str) -> None:
        """Wake every listening worker (new work, a cancel); never per row update. Only a
        hint (the timed claim remains), so a database that cannot take it is no error."""
        with contextlib.suppress(LedgerUnavailable):
            await self._rows("SELECT pg_notify(%s, %s)", (CHANNEL, reason))

    # -- the Ledger port ---------------------------------------------------------------------
    async def add(self, task: Task, limits: UserLimits | None = None) -> tuple[Task, bool]:
        for _ in range(8):
            try:
                attempt = functools.partial(self._add_once, task, limits)
                return await self._retrying(attempt, ADD_ATTEMPTS)
            except pgerrors.UniqueViolation:
                task = replace(task, ref=new_ref())  # a reference collision: draw again
        raise PgLedgerError("could not draw a free task reference")

    async def _add_once(self, task: Task, limits: UserLimits | None) -> tuple[Task, bool]:
        async with self._pool.connection() as conn, conn.transaction():
            budgeted = limits is not None and limits.month_start is not None
            if limits is not None:
                await lock_user(conn, task.target.user_key)
            if budgeted and task.estimate is not None:
                await spend.lock_subjects(conn, task)
            found = await conn.execute(f"{sql.SELECT} WHERE idem_key = %s", (task.idem_key,))
            if (row := await found.fetchone()) is not None:
                return row_to_task(row), False
            if limits is not None:
                await spend.check_caps(conn, task, limits)
            inserted = await conn.execute(sql.INSERT, task_to_row(task))
            if await inserted.fetchone() is None:  # a concurrent add took the key first
                again = await conn.execute(f"{sql.SELECT} WHERE idem_key = %s", (task.idem_key,))
                row = await again.fetchone()
                assert row is not None, "the conflicting row is committed before we see it"
                return row_to_task(row), False
            await spend.reserve(conn, task)  # the estimate, reserved in the same transaction
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "new"))  # sent at commit
        return task, True

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = replace(new, version=old.version + 1)
        row = task_to_row(stored)
        params = (row[3], row[4], row[7], row[8], row[9], row[10], old.task_id, old.version)
        lost_answer = False

        async def once() -> Task | None:
            nonlocal lost_answer
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(sql.UPDATE, params)
                    if cur.rowcount == 1:
                        return stored
            except _TRANSIENT:
                lost_answer = True  # the write may have landed before the connection broke
                raise
            if lost_answer and await self.get(old.task_id) == stored:
                return stored  # it had: ours is the stored row
            return None

        # A transition must not be lost: it waits (retrying) until the database takes it.
        saved = await self._retrying(once, None)
        cancelled = new.state is TaskState.CANCELLED and old.state is not TaskState.CANCELLED
        if saved is not None and cancelled:
            await self.notify("cancel")
        return saved

    async def get(self, ref_or_id: str) -> Task | None:
        key = ref_or_id.strip()
        return await self._one("ref = %s OR task_id = %s", (key.upper(), key.lower()))

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        scope, params = self._working(
            {
                "now": to_ms(now),
                "window": max(sql.FAIR_WINDOW, limit * 8),
                "limit": limit,
                "exclude": sorted(exclude),
            }
        )
        rows = await self._rows(sql.due_query(scope, bool(exclude)), params)
        return [row_to_task(r) for r in rows]

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Task]:
        scope, params = self._working(
            {
                "now": to_ms(now),
                "window": max(sql.FAIR_WINDOW, limit * 8),
                "limit": limit,
                "until": to_ms(now + lease),
            }
        )
        rows = await self._rows(sql.claim_query(scope), params)
        rows.sort(key=lambda r: (r[-1], r[8]))  # RETURNING has no order: fairest first
        return [row_to_task(r[:-1]) for r in rows]

    async def renew(self, task_id: str, held_until: datetime, until: datetime) -> bool:
        params = {"task_id": task_id, "held": to_ms(held_until), "until": to_ms(until)}
        return await self._count(sql.RENEW, params) == 1

    async def release(self, task_id: str, held_until: datetime) -> None:
        await self._count(sql.RELEASE, {"task_id": task_id, "held": to_ms(held_until)})

    async def _count(self, query: str, params: Any) -> int:
        async def once() -> int:
            async with self._pool.connection() as conn:
                return (await conn.execute(query, params)).rowcount

        return await self._retrying(once, ADD_ATTEMPTS)

    async def find(self, query: TaskQuery) -> list[Task]:
        scope, params = self._scoped({"limit": query.limit})
        where = ["TRUE" + scope]
        if query.states:
            where.append("state = ANY(%(states)s)")
            params["states"] = sorted(s.value for s in query.states)
        if query.user_key:
            where.append("user_key = %(user)s")
            params["user"] = query.user_key
        if query.since:
            where.append("created_at >= %(since)s")
            params["since"] = to_ms(query.since)
        if query.idem_key:
            where.append("idem_key = %(idem)s")
            params["idem"] = query.idem_key
        text = f"{sql.SELECT} WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT %(limit)s"
        return [row_to_task(r) for r in await self._rows(text, params)]

    async def count(
        self, states: frozenset[TaskState], created_before: datetime | None = None
    ) -> int:
        text = "SELECT COUNT(*) FROM tasks WHERE state = ANY(%(states)s)"
        params: dict[str, Any] = {"states": sorted(s.value for s in states)}
        if created_before is not None:
            text += " AND created_at < %(before)s"
            params["before"] = to_ms(created_before)
        return int(await self._scalar(text, params))

    async def next_due_at(self, after: datetime | None = None) -> datetime | None:
        scope, params = self._working({"after": to_ms(after)})
        text = f"SELECT MIN(next_check_at) FROM tasks WHERE next_check_at IS NOT NULL{scope}"
        if after is not None:
            # A row held by another worker's lease is due again when the lease lapses: an
            # idle worker wakes then, in case that worker died or froze.
            text = sql.NEXT_DUE_AFTER.format(scope=scope)
        return from_ms(await self._scalar(text, params))

    async def make_due(self, provider_task_id: str, now: datetime) -> str | None:
        scope, params = self._scoped({"now": to_ms(now), "ptid": provider_task_id})
        found = await self._scalar(sql.MAKE_DUE.format(scope=scope), params)
        if found is None:
            return None
        await self.notify("due")  # a callback's row is new work for whichever worker is idle
        return str(found)
