"""The one worker loop: claims due rows from the ledger and moves each one step forward
(submit, poll, deliver, tell). Every step is persisted before the next begins, so a process killed
at any instant resumes on restart without paying twice or posting twice."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot.board import StatusBoard
from bot.delivery import Deliverer
from bot.domain import RENDERING_STATES, TaskState
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    RateLimited,
    TaskNotFound,
)
from bot.policy import (
    IntakeGate,
    RenderHistory,
    WorkerPolicy,
    backoff,
    next_poll_delay,
    predicted_remaining,
)
from bot.ports import (
    Chat,
    Ledger,
    NullObserver,
    Observer,
    Provider,
    ProviderState,
    TaskQuery,
)
from bot.submitter import AUTH_PAUSE, MISCONFIGURED, Submitter
from bot.task import Task

log = logging.getLogger("videobot.worker")

Clock = Callable[[], datetime]
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
        observer: Observer | None = None,
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._chats = chats
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._resubmit_safe = resubmit_safe
        self._history = RenderHistory()
        self._observer = observer or NullObserver()
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self._gate = IntakeGate(
            policy.intake_quiet.total_seconds(), policy.intake_hold_max.total_seconds()
        )
        self._overdue: dict[str, int] = {}  # polls that found a task past its predicted end
        self._deliverer = Deliverer(provider, policy, clock, scratch_dir, self._rng, self._observer)
        self._board = StatusBoard(ledger, chats, policy, clock, self._save, self._rng)
        self._submitter = Submitter(
            ledger,
            provider,
            policy,
            clock,
            self._board,
            self._save,
            self._finish,
            self._rng,
            resubmit_safe,
        )

    # -- running -----------------------------------------------------------------------------
    def wake(self) -> None:
        """A command brought new work: look at the ledger as soon as the commands pause."""
        self._gate.arrived(time.monotonic())
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
                    self._observer.heartbeat()
                    self._wake.clear()
                    hold = self._gate.hold(time.monotonic())
                    if hold > 0:  # commands are arriving: answer them first
                        await asyncio.wait({stopping}, timeout=hold)
                        continue
                    claimed_at, _ = await self._claim(group)
                    await self._idle(stopping, claimed_at)
        finally:
            stopping.cancel()

    async def step(self) -> int:
        """Run every row due now once and wait for them (tests drive time with this)."""
        async with asyncio.TaskGroup() as group:
            _, started = await self._claim(group)
        return started

    async def _claim(self, group: asyncio.TaskGroup) -> tuple[datetime, int]:
        """Start every due row there is a slot for; returns the time the claim looked at and
        how many rows it started."""
        now = self._clock()
        free = self._policy.concurrency - len(self._in_flight)
        if free <= 0:
            return now, 0
        due = await self._ledger.due(now, free, frozenset(self._in_flight))
        for task in due:
            self._in_flight.add(task.task_id)
            group.create_task(self._isolated(task))
        return now, len(due)

    async def _idle(self, stopping: asyncio.Task[bool], claimed_at: datetime) -> None:
        """Sleep until the next row falls due, new work or a free slot wakes us, or stop.
        With every slot busy only a finishing step (a wake) can make room. Otherwise every row
        due at `claimed_at` is in flight, so the next event is the first row due after it."""
        timeout = _MAX_IDLE
        if len(self._in_flight) < self._policy.concurrency:
            next_at = await self._ledger.next_due_at(after=claimed_at)
            if next_at is not None:
                timeout = max(timedelta(0), min(timeout, next_at - self._clock()))
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
            await self._submitter.submit(task)
        elif task.state in RENDERING_STATES:
            await self._poll(task)

    async def _save(self, old: Task, new: Task) -> Task | None:
        saved = await self._ledger.save(old, new)
        if saved is None:
            log.info("task %s was changed elsewhere (cancelled?); leaving it", old.ref)
        elif old.state != new.state:
            self._observer.transition(saved, old.state, new.state)
            context = {
                "task": new.ref,
                "platform": new.target.platform,
                "from_state": old.state.value,
                "to_state": new.state.value,
                "elapsed_s": round((new.updated_at - new.created_at).total_seconds(), 3),
                "provider_task": new.provider_task_id,
            }
            log.info("task %s %s -> %s", new.ref, old.state.value, new.state.value, extra=context)
        return saved

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
                await self._board.show(polled)
            return
        if status.state is ProviderState.SUCCEEDED and status.video_url:
            self._history.record(task.request.mode, task.request.duration, task.elapsed(now))
            done = await self._save(task, task.succeeded(status.video_url, status.expires_at, now))
            if done:
                await self._deliver(done)
            return
        failed = await self._save(task, task.failed(*status.failure(), now))
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
            delay, note = AUTH_PAUSE, MISCONFIGURED
        else:
            note = f"checking again shortly ({err})"
        await self._save(task, task.poll_failed(now, now + delay, note))

    async def _deliver(self, task: Task) -> None:
        chat = self._chats[task.target.platform]
        if task.state is TaskState.SUCCEEDED:
            shown = await self._board.show(task)
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
            await self._board.show(saved)

    async def _finish(self, task: Task) -> None:
        if await self._board.finish(task):
            self._overdue.pop(task.task_id, None)

