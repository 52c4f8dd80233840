"""Sending a task to the provider: hold it while the provider is at its concurrency cap
(showing the queue position) or the key was just refused, stage its media, write
`submitting`, submit, and map every failure onto the state machine. Only errors that prove
nothing reached the provider put a task back in the queue; the rest end it `unknown`."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bot import messages
from bot.board import StatusBoard
from bot.domain import MediaRef, TaskState
from bot.errors import (
    LeaseLost,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    SubmitAmbiguous,
)
from bot.ledger import Ledger
from bot.policy import WorkerPolicy, backoff
from bot.ports import Provider
from bot.task import Task

log = logging.getLogger("videobot.worker")

Save = Callable[[Task, Task], Awaitable[Task | None]]
Confirm = Callable[[Task], Awaitable[bool]]
Finish = Callable[[Task], Awaitable[None]]
AUTH_PAUSE = timedelta(seconds=60)
HOLD_PATIENCE = timedelta(seconds=1)  # the longest 429 hold a step waits out in place
SUBMIT_TRIES = 3  # POSTs per step while each one meets a 429 (which proves nothing was made)
AT_CAPACITY = "the video service is at capacity"
NOT_SENT = "waiting to be sent to the video service"
MISCONFIGURED = "the bot is misconfigured (its API key was refused); an operator has been alerted"


class Submitter:
    def __init__(
        self,
        ledger: Ledger,
        provider: Provider,
        policy: WorkerPolicy,
        clock: Callable[[], datetime],
        board: StatusBoard,
        save: Save,
        finish: Finish,
        rng: random.Random,
        resubmit_safe: bool,
        still_held: Confirm | None = None,
    ) -> None:
        self._ledger = ledger
        # Asked just before the POST's first byte: a worker that froze past its lease (and
        # lost the task to another) must not pay for it too.
        self._still_held = still_held
        self._provider = provider
        self._policy = policy
        self._clock = clock
        self._board = board
        self._save = save
        self._finish = finish
        self._rng = rng
        self._resubmit_safe = resubmit_safe
        self._auth_failed_at: datetime | None = None

    async def submit(self, task: Task) -> None:
        now = self._clock()
        # A wall clock set back (NTP) makes the difference negative: that is no reason to wait.
        if self._auth_failed_at and timedelta(0) <= now - self._auth_failed_at < AUTH_PAUSE:
            # The key was refused moments ago: don't hammer the provider with every queued row.
            shown = await self._board.show(task)
            if shown:
                later = self._auth_failed_at + AUTH_PAUSE
                await self._save(shown, shown.requeued(now, later, MISCONFIGURED))
            return
        cap = self._policy.provider_concurrency
        if cap is None:
            await self._send(task)
            return
        # The slot is held in the ledger from this check until the task is at the provider
        # (its state counts it then), so concurrent steps in any process cannot all take the
        # last one; a holder that dies lets it lapse with its lease.
        now = self._clock()
        if not await self._ledger.take_slot(task.task_id, cap, now, now + self._policy.lease):
            await self._wait_in_line(task)
            return
        try:
            await self._send(task)
        finally:
            await self._ledger.release_slot(task.task_id)

    async def _wait_in_line(self, task: Task) -> None:
        position = (
            await self._ledger.count(
                frozenset({TaskState.ACCEPTED}), created_before=task.created_at
            )
            + 1
        )
        shown = await self._board.show(task, queue_position=position)
        if shown is None:
            return
        # Look again soon; further back in the line, less often (each look is a write).
        now = self._clock()
        wait = timedelta(seconds=min(60.0, 2.0 + position / 2))
        await self._save(shown, shown.rescheduled(now, now + wait))

    async def _send(self, task: Task) -> None:
        shown = await self._board.show(task)
        if shown is None:
            return
        task = shown
        if self._board.refused(task):
            # Nobody would ever see the video: do not pay for it.
            await self._finish_unsent(task)
            return
        last: ProviderError = RateLimited(AT_CAPACITY)
        for _ in range(SUBMIT_TRIES):
            try:
                await self._wait_for_capacity()
                task = await self._stage(task)
                await self._wait_for_capacity()
            except ProviderError as err:
                await self._after_submit(task, err)
                return
            # `submitting` is durable before the POST (a crash after it may have billed). The
            # submit itself never waits; if it is cancelled (the process is stopping) or fails
            # before its first byte left, the task goes back to the queue.
            sending = await self._save(task, task.submitting(self._clock()))
            if sending is None:
                return
            posted = False

            async def mark_posted(mine: Task = sending) -> None:
                nonlocal posted
                if self._still_held is not None and not await self._still_held(mine):
                    raise LeaseLost(f"task {mine.ref} was taken over before it was sent")
                posted = True

            try:
                provider_task_id = await self._provider.submit(
                    sending.request, sending.task_id, wait=False, on_send=mark_posted
                )
            except asyncio.CancelledError:
                if not posted:
                    await asyncio.shield(self._save(sending, self._unsent(sending, NOT_SENT)))
                raise
            except LeaseLost as err:
                log.warning("%s; nothing was sent", err)
                return
            except RateLimited as err:
                # Nothing was created: back to `accepted` before waiting out the hold.
                if (back := await self._save(sending, self._unsent(sending, AT_CAPACITY))) is None:
                    return
                task, last = back, err
                continue
            except Exception as err:  # anything unexpected after the POST began is ambiguous
                await self._after_submit(sending, err)
                return
            self._auth_failed_at = None
            now = self._clock()
            submitted = await self._save(
                sending, sending.submitted(provider_task_id, now, now + self._policy.first_check())
            )
            if submitted:
                log.info("task %s submitted as %r", submitted.ref, provider_task_id)
                await self._board.show(submitted)
            return
        await self._after_submit(task, last)

    async def _finish_unsent(self, task: Task) -> None:
        refused = task.rejected("unpostable", messages.UNPOSTABLE, self._clock())
        if (saved := await self._save(task, refused)) is not None:
            log.warning("task %s: the chat refused its status message; not sent", task.ref)
            await self._finish(saved)

    def _unsent(self, task: Task, note: str) -> Task:
        """Back to the queue, due now: the POST never left, so this is no new attempt."""
        now = self._clock()
        return replace(task.requeued(now, now, note), attempts=task.attempts)

    async def _wait_for_capacity(self) -> None:
        """While the provider holds every request (a 429's Retry-After), the task waits still
        `accepted`: nothing sent, nothing a crash could leave looking possibly billed. A short
        hold is waited out here (cancellable); a longer one sends the task back to the queue."""
        held = self._provider.held_for()
        if held > HOLD_PATIENCE:
            raise RateLimited("the video service asked us to slow down", retry_after=held)
        if held > timedelta(0):
            await asyncio.sleep(held.total_seconds())

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
            new = task.requeued(now, now + AUTH_PAUSE, MISCONFIGURED)
        elif isinstance(err, RateLimited):
            wait = max(delay, err.retry_after or timedelta(0))
            new = task.requeued(now, now + wait, AT_CAPACITY)
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
            await self._board.show(saved)
        else:
            await self._finish(saved)
