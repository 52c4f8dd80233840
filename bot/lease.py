"""The rows this worker holds: each claim is a lease in the ledger, renewed while a step runs
longer than a third of it and released when the step ends. A lease that could not be renewed
was taken over by another worker; the version bumped by that claim fences every later save of
ours, so the step can only fail to write, never overwrite the new holder's work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from bot.errors import LedgerUnavailable
from bot.ledger import Ledger
from bot.task import Task

log = logging.getLogger("videobot.worker")


class LeaseKeeper:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime], lease: timedelta) -> None:
        self._ledger = ledger
        self._clock = clock
        self._lease = lease
        self._held: dict[str, datetime] = {}  # task id -> the end of our lease on it

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._held

    async def claim(self, now: datetime, limit: int) -> list[Task]:
        """Lease up to `limit` due rows (see Ledger.claim)."""
        claimed = await self._ledger.claim(now, limit, self._lease)
        for task in claimed:
            self._held[task.task_id] = now + self._lease
        return claimed

    async def still_held(self, task: Task) -> bool:
        """Renew the lease on `task` now: True while it is ours (the moment before an act
        that cannot be taken back, such as a paid submit)."""
        held = self._held.get(task.task_id)
        if held is None:
            return False
        until = self._clock() + self._lease
        try:
            renewed = await self._ledger.renew(task.task_id, held, until)
        except LedgerUnavailable:
            return True  # cannot tell; the `submitting` write under our version just landed
        if not renewed:
            self._held.pop(task.task_id, None)
            return False
        self._held[task.task_id] = until
        return True

    async def refused(self, task: Task) -> None:
        """A save of `task` was refused (its version moved on): say whether another worker
        took the task over (our lease lapsed: a fenced stale write) or it changed under a
        lease we still hold (a cancel, an operator)."""
        held = self._held.get(task.task_id)
        try:
            ours = held is not None and await self._ledger.renew(task.task_id, held, held)
        except LedgerUnavailable:
            ours = True  # cannot tell; the quieter reading
        if ours:
            log.info("task %s was changed elsewhere (cancelled?); leaving it", task.ref)
            return
        self._held.pop(task.task_id, None)
        log.warning(
            "task %s: this worker's lease lapsed and another worker took the task over; "
            "its stale write was refused",
            task.ref,
        )

    @contextlib.asynccontextmanager
    async def holding(self, task: Task) -> AsyncIterator[None]:
        """Keep the lease on `task` alive for the block, then release it."""
        renewer = asyncio.create_task(self._renew(task), name=f"lease-{task.ref}")
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            held = self._held.pop(task.task_id, None)
            if held is not None:
                # Not released, the row is due again when the lease lapses: slower, not wrong.
                with contextlib.suppress(LedgerUnavailable):
                    await self._ledger.release(task.task_id, held)

    async def _renew(self, task: Task) -> None:
        period = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            held = self._held.get(task.task_id)
            if held is None:
                return
            until = self._clock() + self._lease
            try:
                renewed = await self._ledger.renew(task.task_id, held, until)
            except LedgerUnavailable:
                continue  # try again next period; the lease may still hold
            if not renewed:
                log.warning(
                    "task %s: another worker took it over after this one's lease lapsed; "
                    "this step's writes will be refused",
                    task.ref,
                )
                self._held.pop(task.task_id, None)
                return
            self._held[task.task_id] = until
