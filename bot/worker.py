"""The one worker loop: claims due rows from the ledger and moves each one step forward
(submit, poll, deliver, tell). Every step is persisted before the next begins, so a process killed
at any instant resumes on restart without paying twice or posting twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot.board import StatusBoard
from bot.delivery import Deliverer
from bot.domain import RENDERING_STATES, TaskState
from bot.errors import LedgerUnavailable
from bot.lease import LeaseKeeper
from bot.ledger import Ledger, TaskQuery
from bot.policy import IntakeGate, WorkerPolicy, backoff
from bot.poller import Poller
from bot.ports import Chat, NullObserver, Observer, Provider
from bot.submitter import Submitter
from bot.task import Task
from bot.timekeeper import Timekeeper

log = logging.getLogger("videobot.worker")

Clock = Callable[[], datetime]
Spawn = Callable[[Coroutine[None, None, None]], asyncio.Task[None]]
_MAX_IDLE = timedelta(seconds=30)
_SUBMITTING = frozenset({TaskState.SUBMITTING})


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        provider: Provider,
        chats: Mapping[str, Chat],
        policy: WorkerPolicy,
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        scratch_dir: Path,
        resubmit_safe: bool = False,
        rng: random.Random | None = None,
        observer: Observer | None = None,
        sole_owner: bool = True,
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._chats = chats
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()
        self._resubmit_safe = resubmit_safe
        self._observer = observer or NullObserver()
        # Claims are ledger leases; `sole_owner` (a locked SQLite file): recovery takes all.
        self._held = LeaseKeeper(ledger, clock, policy.lease)
        self._sole_owner = sole_owner
        self._hurried: dict[str, str] = {}  # in-flight task id -> its provider's id
        self._wake = asyncio.Event()
        self._gate = IntakeGate(
            policy.intake_quiet.total_seconds(), policy.intake_hold_max.total_seconds()
        )
        self._time = Timekeeper(ledger, clock, monotonic)
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
            self._held.still_held,
        )
        self._poller = Poller(
            provider, policy, clock, self._board, self._save, self._finish, self._deliver, self._rng
        )

    # -- running -----------------------------------------------------------------------------
    def wake(self) -> None:
        """A command brought new work: look at the ledger as soon as the commands pause."""
        self._gate.arrived(time.monotonic())
        self._wake.set()

    def nudge(self) -> None:
        """Another process recorded new work or a cancel: look at the ledger now."""
        self._wake.set()

    async def hurry(self, provider_task_id: str) -> bool:
        """A provider called back about `provider_task_id`: make its rendering task due for a
        poll now and wake the loop. The poll decides what happened; the callback only says
        when to ask. False when no rendering task has that id (finished, unknown, forged).
        A task mid-step is made due again once the step ends (its poll may predate the end)."""
        task_id = await self._ledger.make_due(provider_task_id, self._clock())
        if task_id is None:
            return False
        if task_id in self._held:
            self._hurried[task_id] = provider_task_id
        self._wake.set()
        return True

    async def recover(self) -> int:
        """At start, as the ledger's only user: a row left in `submitting` may have been
        billed. Beside other workers, rows are left to their leases: one whose holder vanished
        falls due when its lease lapses and is resolved by the claim that finds it."""
        if not self._sole_owner:
            return 0
        stuck = await self._ledger.find(TaskQuery(states=_SUBMITTING, limit=1_000_000))
        for task in stuck:
            await self._interrupted(task)
        return len(stuck)

    async def _interrupted(self, task: Task) -> None:
        """A `submitting` row whose sender is gone: `unknown` (never re-sent) unless the
        provider honours an idempotency key."""
        now = self._clock()
        if self._resubmit_safe:
            new = task.requeued(now, now, "resending with the same idempotency key")
        else:
            new = task.unknown("interrupted while submitting", now)
        if await self._ledger.save(task, new) is not None:
            log.warning("task %s was interrupted mid-submit: now %s", task.ref, new.state.value)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim due rows whenever a slot is free; sleep until the next row is due, new work
        arrives, or `stop` is set. Once stopped, in-flight steps get `policy.stop_grace` to
        finish and are then cancelled, so a stuck upstream cannot keep the process alive."""
        await self.recover()
        stopping = asyncio.create_task(stop.wait())
        steps: set[asyncio.Task[None]] = set()

        def spawn(step: Coroutine[None, None, None]) -> asyncio.Task[None]:
            task = asyncio.create_task(step)
            steps.add(task)
            task.add_done_callback(steps.discard)
            return task

        try:
            while not stop.is_set():
                self._observer.heartbeat()
                self._wake.clear()
                hold = self._gate.hold(time.monotonic())
                if hold > 0:  # commands are arriving: answer them first
                    await asyncio.wait({stopping}, timeout=hold)
                    continue
                claimed_at, _ = await self._claim(spawn)
                await self._idle(stopping, claimed_at)
        finally:
            stopping.cancel()
            await self._wind_down(steps)

    async def _wind_down(self, steps: set[asyncio.Task[None]]) -> None:
        """Let in-flight steps finish for a moment, then cancel the rest. A cancelled step
        leaves its row as a crash would (a submit stays `submitting` and becomes `unknown`
        at the next start, never a second POST), so recovery handles it."""
        if not steps:
            return
        _, pending = await asyncio.wait(steps, timeout=self._policy.stop_grace.total_seconds())
        for step in pending:
            step.cancel()
        if pending:
            log.warning("stopping: cancelled %d step(s) still waiting on the network", len(pending))
            await asyncio.wait(pending, timeout=self._policy.stop_grace.total_seconds())

    async def step(self) -> int:
        """Run every row due now once and wait for them (tests drive time with this)."""
        async with asyncio.TaskGroup() as group:
            _, started = await self._claim(group.create_task)
        return started

    async def _claim(self, spawn: Spawn) -> tuple[datetime, int]:
        """Claim and start every due row there is a slot for; (claim time, rows started)."""
        await self._time.absorb_steps()
        now = self._clock()
        free = self._policy.concurrency - len(self._held)
        if free <= 0:
            return now, 0
        try:
            claimed = await self._held.claim(now, free)
        except LedgerUnavailable as err:
            log.warning("could not claim work: %s; trying again shortly", err)
            return now, 0
        for task in claimed:
            spawn(self._isolated(task))
        return now, len(claimed)

    async def _idle(self, stopping: asyncio.Task[bool], claimed_at: datetime) -> None:
        """Sleep until the next row falls due, new work or a free slot wakes us, or stop.
        With every slot busy only a finishing step (a wake) can make room. Otherwise every row
        due at `claimed_at` is in flight, so the next event is the first row due after it."""
        timeout = _MAX_IDLE
        if len(self._held) < self._policy.concurrency:
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
            async with self._held.holding(task):
                await self._guarded(task)
        finally:
            if (hurried := self._hurried.pop(task.task_id, None)) is not None:
                with contextlib.suppress(LedgerUnavailable):  # the safety-net poll remains
                    await self._ledger.make_due(hurried, self._clock())
            self._wake.set()

    async def _guarded(self, task: Task) -> None:
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

    # -- one step ----------------------------------------------------------------------------
    async def _advance(self, task: Task) -> None:
        now = self._clock()
        if task.state.is_terminal:
            await self._finish(task)
        elif task.state in (TaskState.SUCCEEDED, TaskState.DELIVERING):
            await self._deliver(task)
        elif task.state is TaskState.SUBMITTING:
            await self._interrupted(task)  # claimable only once its sender's lease lapsed
        elif self._time.past_deadline(task, now):
            if task.state in RENDERING_STATES:
                # Ask once more before giving up: the video may have finished meanwhile.
                await self._poller.poll(task, last=True)
                return
            timed_out = await self._save(task, task.timed_out(now))
            if timed_out:
                log.warning("task %s timed out in state %s", task.ref, task.state.value)
                await self._finish(timed_out)
        elif task.state is TaskState.ACCEPTED:
            await self._submitter.submit(task)
        elif task.state in RENDERING_STATES:
            await self._poller.poll(task)

    async def _save(self, old: Task, new: Task) -> Task | None:
        saved = await self._ledger.save(old, new)
        if saved is None:
            await self._held.refused(old)
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
            self._poller.forget(task.task_id)
            self._time.forget(task.task_id)
