"""Time the worker can trust when the wall clock cannot be: deadlines are measured on the
monotonic clock from the moment this process first saw a task, and a backward step of the wall
clock (NTP, a VM resumed from a snapshot) brings back rows it would have pushed hours ahead."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bot.ledger import Ledger, TaskQuery
from bot.task import Task

log = logging.getLogger("videobot.worker")

# Wall and monotonic clocks drift apart by milliseconds under NTP slewing; a step is bigger.
STEP = timedelta(seconds=5)
_RECENT_ROWS = 100_000  # rows with work pending are recent; the ledger lists newest first


class Timekeeper:
    def __init__(
        self,
        ledger: Ledger,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._monotonic = monotonic
        self._seen: dict[str, tuple[float, timedelta]] = {}  # task: (monotonic, wall elapsed)
        self._last: tuple[datetime, float] | None = None

    def past_deadline(self, task: Task, now: datetime) -> bool:
        """Has the task used up its time? Its age is read from the wall clock once, when this
        process first sees it, and grows with the monotonic clock after that: a wall clock
        that jumps ahead by hours does not time out every task at once."""
        mono = self._monotonic()
        seen = self._seen.get(task.task_id)
        if seen is None:
            seen = self._seen[task.task_id] = (mono, now - task.created_at)
        age = seen[1] + timedelta(seconds=mono - seen[0])
        return age >= task.deadline_at - task.created_at

    def forget(self, task_id: str) -> None:
        self._seen.pop(task_id, None)

    async def absorb_steps(self) -> int:
        """Look for a wall-clock step since the last look. After a step back, rows written
        before it are due hours late by the new clock: move their next check back by the
        step. (After a step forward they are simply due now.) Returns how many rows moved."""
        now, mono = self._clock(), self._monotonic()
        last, self._last = self._last, (now, mono)
        if last is None:
            return 0
        skew = now - (last[0] + timedelta(seconds=mono - last[1]))
        if skew > -STEP:
            return 0
        log.warning("the wall clock stepped back by %s; rescheduling pending checks", -skew)
        moved = 0
        for row in await self._ledger.find(TaskQuery(limit=_RECENT_ROWS)):
            # Only a row written in the old timeline can be dated after now.
            if row.next_check_at is None or row.next_check_at <= now or row.updated_at <= now:
                continue
            later = max(now, row.next_check_at + skew)
            if await self._ledger.save(row, replace(row, next_check_at=later)) is not None:
                moved += 1
        return moved
