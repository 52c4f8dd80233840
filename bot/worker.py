"""The one worker loop: claims due rows from the ledger and moves each one step forward
(submit, poll, deliver, tell). Every step is persisted before the next begins, so a process killed
at any instant resumes on restart without paying twice or posting twice."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot import messages
from bot.delivery import Deliverer
from bot.domain import RENDERING_STATES, MediaRef, Task, TaskState
from bot.errors import (
    DeliveryError,
    DeliveryTransient,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    SubmitAmbiguous,
    TaskNotFound,
)
from bot.policy import (
    RenderHistory,
    WorkerPolicy,
    backoff,
    next_poll_delay,
    predicted_remaining,
)
from bot.ports import Chat, Ledger, Provider, ProviderState, ProviderStatus, TaskQuery

log = logging.getLogger("videobot.worker")

Clock = Callable[[], datetime]
_AUTH_PAUSE = timedelta(seconds=60)
_MAX_IDLE = timedelta(seconds=30)


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        provider: Provider,
        chats: Mapping[str, Chat],
        policy: WorkerPolicy,
        clock: Clock,
        *,
        scratch_dir: Path,
        resubmit_safe: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._chats = chats
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._resubmit_safe = resubmit_safe
        self._history = RenderHistory()
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self._shown: dict[str, tuple[tuple[str, ...], datetime]] = {}
        self._auth_failed_at: datetime | None = None
        self._overdue: dict[str, int] = {}  # polls that found a task past its predicted end
        self._deliverer = Deliverer(provider, policy, clock, scratch_dir, self._rng)

    # -- running -----------------------------------------------------------------------------
    def wake(self) -> None:
        """New work (or a freed slot): look at the ledger now instead of at the next tick."""
        self._wake.set()

    async def recover(self) -> int:
        """At start: a row left in `submitting` may have been billed. Without a provider-side
        idempotency key it becomes `unknown` (told to the user, never re-sent)."""
        stuck = await self._ledger.find(
            TaskQuery(states=frozenset({TaskState.SUBMITTING}), limit=1_000_000)
        )
        now = self._clock()
        for task in stuck:
            if self._resubmit_safe:
                new = task.requeued(now, now, "resending with the same idempotency key")
            else:
                new = task.unknown("interrupted while submitting", now)
            await self._ledger.save(task, new)
            log.warning("task %s was interrupted mid-submit: now %s", task.ref, new.state.value)
        return len(stuck)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim due rows whenever a slot is free; sleep until the next row is due, new work
        arrives, or `stop` is set. In-flight steps finish before this returns."""
        await self.recover()
        stopping = asyncio.create_task(stop.wait())
        try:
            async with asyncio.TaskGroup() as group:
                while not stop.is_set():
                    self._wake.clear()
                    await self._claim(group)
                    await self._idle(stopping)
        finally:
            stopping.cancel()

    async def step(self) -> int:
        """Run every row due now once and wait for them (tests drive time with this)."""
        now = self._clock()
        due = await self._ledger.due(now, self._policy.concurrency, frozenset(self._in_flight))
        async with asyncio.TaskGroup() as group:
            for task in due:
                self._in_flight.add(task.task_id)
                group.create_task(self._isolated(task))
        return len(due)

    async def _claim(self, group: asyncio.TaskGroup) -> None:
        free = self._policy.concurrency - len(self._in_flight)
        if free <= 0:
            return
        due = await self._ledger.due(self._clock(), free, frozenset(self._in_flight))
        for task in due:
            self._in_flight.add(task.task_id)
            group.create_task(self._isolated(task))

    async def _idle(self, stopping: asyncio.Task[bool]) -> None:
        timeout = _MAX_IDLE
        if len(self._in_flight) < self._policy.concurrency:
            next_at = await self._ledger.next_due_at()
            if next_at is not None:
                timeout = min(timeout, next_at - self._clock())
        if timeout <= timedelta(0) and len(self._in_flight) < self._policy.concurrency:
            # Due rows we could not take are all in flight: wait for one to finish.
            timeout = self._policy.poll_floor if not self._in_flight else _MAX_IDLE
        waking = asyncio.create_task(self._wake.wait())
        await asyncio.wait(
            {waking, stopping}, timeout=timeout.total_seconds(), return_when="FIRST_COMPLETED"
        )
        waking.cancel()

    async def _isolated(self, task: Task) -> None:
        """The per-task isolation boundary: one task's bug never stops the loop."""
        try:
            await self._advance(task)
        except Exception:
            log.exception("task %s: unexpected error in state %s", task.ref, task.state.value)
            current = await self._ledger.get(task.task_id)
            if current is not None and current.next_check_at is not None:
                now = self._clock()
                delay = backoff(
                    current.attempts + 3, timedelta(seconds=1), self._policy.retry_cap, self._rng
                )
                await self._ledger.save(
                    current,
                    replace(current.rescheduled(now, now + delay), attempts=current.attempts + 1),
                )
        finally:
            self._in_flight.discard(task.task_id)
            self._wake.set()

    # -- one step ----------------------------------------------------------------------------
    async def _advance(self, task: Task) -> None:
        now = self._clock()
        if task.state.is_terminal:
            await self._finish(task)
        elif task.state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
            await self._deliver(task)
        elif task.is_past_deadline(now) and task.state is not TaskState.SUBMITTING:
            timed_out = await self._save(task, task.timed_out(now))
            if timed_out:
                log.warning("task %s timed out in state %s", task.ref, task.state.value)
                await self._finish(timed_out)
        elif task.state is TaskState.ACCEPTED:
            await self._submit(task)
        elif task.state in RENDERING_STATES:
            await self._poll(task)

    async def _save(self, old: Task, new: Task) -> Task | None:
        saved = await self._ledger.save(old, new)
        if saved is None:
            log.info("task %s was changed elsewhere (cancelled?); leaving it", old.ref)
        elif old.state != new.state:
            log.info("task %s %s -> %s", new.ref, old.state.value, new.state.value)
        return saved

    async def _submit(self, task: Task) -> None:
        shown = await self._show(task)
        if shown is None:
            return
        task, now = shown, self._clock()
        if self._auth_failed_at and now - self._auth_failed_at < _AUTH_PAUSE:
            # The key was refused moments ago: don't hammer the provider with every queued row.
            await self._save(task, task.requeued(now, self._auth_failed_at + _AUTH_PAUSE, _MISCONF))
            return
        try:
            task = await self._stage(task)
        except ProviderError as err:
            await self._after_submit(task, err)
            return
        sending = await self._save(task, task.submitting(self._clock()))
        if sending is None:
            return
        try:
            provider_task_id = await self._provider.submit(sending.request, sending.task_id)
        except Exception as err:  # anything unexpected after the POST began is ambiguous
            await self._after_submit(sending, err)
            return
        self._auth_failed_at = None
        now = self._clock()
        submitted = await self._save(
            sending, sending.submitted(provider_task_id, now, now + self._policy.first_poll)
        )
        if submitted:
            log.info("task %s submitted as %s", submitted.ref, provider_task_id)
            await self._show(submitted)

    async def _stage(self, task: Task) -> Task:
        if all(m.url for m in task.request.media):
            return task
        staged: list[MediaRef] = []
        for media in task.request.media:
            url = media.url or await self._provider.stage(media)
            staged.append(replace(media, url=url))
        request = task.request.with_media(tuple(staged))
        saved = await self._save(task, task.staged(request, self._clock()))
        if saved is None:
            raise ProviderError("task changed while staging media")
        return saved

    async def _after_submit(self, task: Task, err: Exception) -> None:
        """Map a failed stage/submit onto the state machine. Only errors that prove nothing
        reached the provider put the task back in the queue; the rest end it `unknown`."""
        now = self._clock()
        delay = backoff(task.attempts, timedelta(seconds=2), self._policy.retry_cap, self._rng)
        if isinstance(err, ProviderRejected):
            new = task.rejected(err.code, str(err), now)
        elif isinstance(err, ProviderAuthError):
            first = self._auth_failed_at is None
            self._auth_failed_at = now
            (log.error if first else log.debug)(
                "OPERATOR: the video API refused the API key (401: %s). Set VIDEO_API_KEY "
                "correctly; queued tasks are kept and go out once it works.",
                err,
            )
            new = task.requeued(now, now + _AUTH_PAUSE, _MISCONF)
        elif isinstance(err, RateLimited):
            wait = max(delay, err.retry_after or timedelta(0))
            new = task.requeued(now, now + wait, "the video service is at capacity")
        elif isinstance(err, ProviderTransient):
            new = task.requeued(now, now + delay, f"the video service is unreachable ({err})")
        elif isinstance(err, SubmitAmbiguous) and self._resubmit_safe:
            new = task.requeued(now, now + delay, "resending with the same idempotency key")
        elif task.state is TaskState.SUBMITTING:
            if not isinstance(err, ProviderError):
                log.error("task %s: unexpected submit error", task.ref, exc_info=err)
            new = task.unknown(str(err) or type(err).__name__, now)
        else:
            new = task.requeued(now, now + delay, f"preparing the request failed ({err})")
        saved = await self._save(task, new)
        if saved is None:
            return
        if saved.state.is_live:
            await self._show(saved)
        else:
            await self._finish(saved)

    async def _poll(self, task: Task) -> None:
        assert task.provider_task_id is not None
        now = self._clock()
        try:
            status = await self._provider.fetch(task.provider_task_id)
        except ProviderError as err:
            await self._poll_failed(task, err)
            return
        now = self._clock()
        if status.state in (ProviderState.QUEUED, ProviderState.RUNNING):
            expected = self._history.expected(task.request.mode, task.request.duration)
            remaining = predicted_remaining(task.elapsed(now), status.progress, expected)
            overdue = 0
            if remaining is not None and remaining <= self._policy.poll_floor:
                overdue = self._overdue[task.task_id] = self._overdue.get(task.task_id, 0) + 1
            delay = next_poll_delay(task.elapsed(now), remaining, overdue, self._policy)
            polled = await self._save(
                task,
                task.polled(
                    status.state is ProviderState.RUNNING, status.progress, now, now + delay
                ),
            )
            if polled:
                await self._show(polled)
            return
        if status.state is ProviderState.SUCCEEDED and status.video_url:
            self._history.record(task.request.mode, task.request.duration, task.elapsed(now))
            done = await self._save(task, task.succeeded(status.video_url, status.expires_at, now))
            if done:
                await self._deliver(done)
            return
        failed = await self._save(task, task.failed(*_failure(status), now))
        if failed:
            await self._finish(failed)

    async def _poll_failed(self, task: Task, err: ProviderError) -> None:
        now = self._clock()
        delay = backoff(
            task.attempts + 1, timedelta(seconds=1), self._policy.poll_ceiling, self._rng
        )
        if isinstance(err, TaskNotFound) and task.attempts + 1 >= self._policy.lost_after_not_found:
            lost = await self._save(
                task, task.failed("not_found", "the video service no longer knows this task", now)
            )
            if lost:
                await self._finish(lost)
            return
        if isinstance(err, RateLimited):
            delay = max(delay, err.retry_after or timedelta(0))
        if isinstance(err, ProviderAuthError):
            log.error("OPERATOR: the video API refused the API key while polling (401: %s)", err)
            delay, note = _AUTH_PAUSE, _MISCONF
        else:
            note = f"checking again shortly ({err})"
        await self._save(task, task.poll_failed(now, now + delay, note))

    async def _deliver(self, task: Task) -> None:
        chat = self._chats[task.target.platform]
        if task.state is TaskState.SUCCEEDED:
            shown = await self._show(task)
            if shown is None:
                return
            started = await self._save(shown, shown.delivering(self._clock()))
            if started is None:
                return
            task = started
        saved = await self._deliverer.deliver(task, chat, self._save)
        if saved is None:
            return
        if saved.state.is_terminal:
            await self._finish(saved)
        else:
            await self._show(saved)

    # -- telling the user --------------------------------------------------------------------
    async def _finish(self, task: Task) -> None:
        """Show the final status; only then is the row done (next_check_at cleared)."""
        try:
            await self._show(task, force=True)
        except DeliveryTransient as err:
            now = self._clock()
            wait = err.retry_after or backoff(
                task.attempts, timedelta(seconds=2), self._policy.retry_cap, self._rng
            )
            await self._save(
                task, replace(task.rescheduled(now, now + wait), attempts=task.attempts + 1)
            )
            return
        current = await self._ledger.get(task.task_id)
        if current is not None and current.state.is_terminal and current.next_check_at:
            await self._ledger.save(current, current.notified(self._clock()))
        self._shown.pop(task.task_id, None)
        self._overdue.pop(task.task_id, None)

    async def _show(self, task: Task, force: bool = False) -> Task | None:
        """Post or edit the status message, at most every status_interval per task and only on
        a visible change (chat platforms rate-limit edits). Chat trouble never blocks the work."""
        chat = self._chats[task.target.platform]
        now = self._clock()
        view = messages.status_view(task, now)
        key = (view.state, view.headline, task.note or "", view.detail if view.final else "")
        last = self._shown.get(task.task_id)
        try:
            if task.status_message_id is None:
                message_id = await chat.post_status(task.target, view, task.nonce("s"))
                self._shown[task.task_id] = (key, now)
                return await self._save(task, task.with_status_message(message_id, now))
            if last and last[0] == key and not force:
                return task
            if last and not force and now - last[1] < self._policy.status_interval:
                return task
            await chat.update_status(task.target, task.status_message_id, view)
            self._shown[task.task_id] = (key, now)
        except DeliveryTransient as err:
            if force:
                raise
            # A skipped progress edit is harmless: the next poll renders the status again.
            log.debug("task %s: status edit deferred: %s", task.ref, err)
        except DeliveryError as err:
            log.warning("task %s: status message not updated: %s", task.ref, err)
        return task


_MISCONF = "the bot is misconfigured (its API key was refused); an operator has been alerted"


def _failure(status: ProviderStatus) -> tuple[str | None, str]:
    if status.state is ProviderState.SUCCEEDED:
        return "no_result", "the video service reported success but gave no video"
    if status.state is ProviderState.CANCELLED:
        return "cancelled", status.error_message or "the video service cancelled the task"
    if status.state is ProviderState.EXPIRED:
        return "expired", status.error_message or "the result expired before it was fetched"
    return status.error_code, status.error_message or "the render failed"
