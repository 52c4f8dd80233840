"""Polling a task the provider holds: map each answer onto the state machine, schedule the next
poll near the predicted finish, and say on the status message when the provider speaks in a way
we do not understand or stops answering. A permanent refusal ends the task at once."""

from __future__ import annotations

import logging
import random
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bot import messages, pricing
from bot.board import StatusBoard
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderForbidden,
    ProviderRejected,
    RateLimited,
    TaskNotFound,
)
from bot.policy import (
    RenderHistory,
    WorkerPolicy,
    backoff,
    next_poll_delay,
    predicted_remaining,
)
from bot.ports import Provider, ProviderState, ProviderStatus
from bot.submitter import AUTH_PAUSE, MISCONFIGURED
from bot.task import Task

log = logging.getLogger("videobot.worker")

Save = Callable[[Task, Task], Awaitable[Task | None]]
Act = Callable[[Task], Awaitable[None]]
TROUBLE_AFTER = 3  # consecutive failed polls before the status message says so


class Poller:
    def __init__(
        self,
        provider: Provider,
        policy: WorkerPolicy,
        clock: Callable[[], datetime],
        board: StatusBoard,
        save: Save,
        finish: Act,
        deliver: Act,
        rng: random.Random,
    ) -> None:
        self._provider = provider
        self._policy = policy
        self._clock = clock
        self._board = board
        self._save = save
        self._finish = finish
        self._deliver = deliver
        self._rng = rng
        self.history = RenderHistory()
        self._overdue: dict[str, int] = {}  # polls that found a task past its predicted end
        self._unfamiliar: dict[str, str] = {}  # the unknown status last logged, per task

    def forget(self, task_id: str) -> None:
        self._overdue.pop(task_id, None)
        self._unfamiliar.pop(task_id, None)

    async def poll(self, task: Task, last: bool = False) -> None:
        """One poll. `last`: the task is past its deadline, so unless this answer ends it
        (a video, a failure) it times out now instead of being scheduled again."""
        assert task.provider_task_id is not None
        try:
            status = await self._provider.fetch(task.provider_task_id)
        except ProviderError as err:
            if last and not _permanent(err):
                await self._time_out(task)
            else:
                await self._failed(task, err)
            return
        now = self._clock()
        if status.state is ProviderState.SUCCEEDED and status.video_url:
            self.history.record(task.request.mode, task.request.duration, task.elapsed(now))
            succeeded = task.succeeded(status.video_url, status.expires_at, now)
            done = await self._save(task, await self._billed(succeeded, status))
            if done:
                await self._deliver(done)
        elif status.state in (ProviderState.QUEUED, ProviderState.RUNNING, ProviderState.UNKNOWN):
            if last:
                await self._time_out(task)
            else:
                await self._still_going(task, status, now)
        else:
            # Only a render the provider says failed (or cancelled) goes unbilled; a result
            # that expired before it was fetched, or "done" without a video, was rendered.
            said_failed = status.state in (ProviderState.FAILED, ProviderState.CANCELLED)
            ended = await self._billed(task.failed(*status.failure(), now, said_failed), status)
            failed = await self._save(task, ended)
            if failed:
                await self._finish(failed)

    async def _billed(self, task: Task, status: ProviderStatus) -> Task:
        """`task` with the cost the provider reported, when it reported one we can price."""
        if status.usage is None or task.estimate is None:
            return task
        policy = self._policy
        # The prices in force now, from the ledger when kept there (a change since the submit
        # applies: what the provider reports is priced at today's contract).
        prices = await policy.price_book.fresh() if policy.price_book else policy.prices
        if prices.unit != task.unit:  # priced in another unit since: the estimate stands
            return task
        cost = pricing.actual(status.usage, prices, task.request, policy.default_resolution)
        if cost is not None and cost > task.estimate:
            # Recorded as billed all the same: the budgets this task counts in may go over
            # their limit by the difference, and the operator should know why.
            log.warning(
                "task %s cost %s, more than the %s reserved for it; its budgets may go over "
                "by the difference",
                task.ref,
                pricing.money(cost, task.unit),
                pricing.money(task.estimate, task.unit),
            )
        return task if cost is None else replace(task, billed=cost)

    async def _still_going(self, task: Task, status: ProviderStatus, now: datetime) -> None:
        expected = self.history.expected(task.request.mode, task.request.duration)
        remaining = predicted_remaining(task.elapsed(now), status.progress, expected)
        overdue = 0
        if remaining is not None and remaining <= self._policy.poll_floor:
            overdue = self._overdue[task.task_id] = self._overdue.get(task.task_id, 0) + 1
        delay = self._policy.callback_poll or next_poll_delay(
            task.elapsed(now), remaining, overdue, self._policy
        )
        note = None
        if status.state is ProviderState.UNKNOWN:
            note = self._unfamiliar_status(task, status.raw_state or "")
        polled = await self._save(
            task,
            task.polled(
                status.state is ProviderState.RUNNING, status.progress, now, now + delay, note
            ),
        )
        if polled:
            await self._board.show(polled)

    def _unfamiliar_status(self, task: Task, raw: str) -> str:
        """Log a status no dialect knows once per task (not on every poll) and word it for
        the status message; it is provider text, so it is clipped and made printable."""
        shown = messages.clip(_printable(raw), 40)
        if self._unfamiliar.get(task.task_id) != raw:
            self._unfamiliar[task.task_id] = raw
            log.warning(
                "task %s: the video API answered an unknown status %r; still polling",
                task.ref,
                shown,
            )
        return messages.UNFAMILIAR_STATUS.format(status=shown)

    async def _failed(self, task: Task, err: ProviderError) -> None:
        now = self._clock()
        if _permanent(err):
            # 400, 403, 422...: asking again until the deadline only repeats the refusal.
            log.warning("task %s: the video API refused the poll for good: %s", task.ref, err)
            reason = messages.POLL_REFUSED.format(reason=err)
            ended = await self._save(task, task.failed(err.code or "poll_refused", reason, now))
            if ended:
                await self._finish(ended)
            return
        if isinstance(err, TaskNotFound) and task.attempts + 1 >= self._policy.lost_after_not_found:
            lost = await self._save(
                task, task.failed("not_found", "the video service no longer knows this task", now)
            )
            if lost:
                await self._finish(lost)
            return
        delay = backoff(
            task.attempts + 1, timedelta(seconds=1), self._policy.poll_ceiling, self._rng
        )
        if isinstance(err, RateLimited):
            delay = max(delay, err.retry_after or timedelta(0))
        if isinstance(err, ProviderAuthError):
            log.error("OPERATOR: the video API refused the API key while polling (401: %s)", err)
            delay, note = AUTH_PAUSE, MISCONFIGURED
        elif task.attempts + 1 >= TROUBLE_AFTER:
            until = task.deadline_at.strftime("%H:%M UTC")
            note = messages.POLL_TROUBLE.format(count=task.attempts + 1, error=err, until=until)
        else:
            note = f"checking again shortly ({err})"
        saved = await self._save(task, task.poll_failed(now, now + delay, note))
        if saved:
            await self._board.show(saved)

    async def _time_out(self, task: Task) -> None:
        timed_out = await self._save(task, task.timed_out(self._clock()))
        if timed_out:
            log.warning("task %s timed out in state %s", task.ref, task.state.value)
            await self._finish(timed_out)


def _permanent(err: ProviderError) -> bool:
    """A refusal that asking again cannot change (400, 403, 422...). A refused key (401) is
    not one: the operator can fix it, and the task is paid for."""
    return isinstance(err, ProviderRejected | ProviderForbidden)


def _printable(text: str) -> str:
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in text).strip()
