"""The Task: one paid video generation and everything needed to finish it after a crash, with
the state machine as pure transitions (each returns a new Task; nothing here does I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain import RENDERING_STATES, ReplyTarget, TaskState, VideoRequest


class InvalidTransition(ValueError):
    """A transition was asked of a task in a state it cannot leave that way (a bug)."""


@dataclass(frozen=True, slots=True)
class Task:
    """One paid video generation and everything needed to finish it after a crash."""

    task_id: str
    ref: str
    idem_key: str
    request: VideoRequest
    target: ReplyTarget
    state: TaskState
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime
    next_check_at: datetime | None
    version: int = 0
    provider_task_id: str | None = None
    progress: int | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    result_url: str | None = None
    result_expires_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    status_message_id: str | None = None
    delivery_ref: str | None = None
    attempts: int = 0
    polls: int = 0
    retry_of: str | None = None
    status_posting: bool = False
    provider: str = ""  # the provider (bot/providers.py name) the task was made for
    # Money in micro-units of `unit` (bot/pricing.py): the estimate reserved when the task was
    # recorded, and the cost the provider reported (None until it reports one).
    estimate: int | None = None
    billed: int | None = None
    unit: str = ""
    # The provider itself reported the render failed (or cancelled it), which it does not
    # charge for; a task that failed because we lost sight of it (404, a refused poll) may
    # have been billed, so it counts its estimate.
    provider_failed: bool = False
    note: str | None = field(default=None, compare=False)

    # -- transitions -------------------------------------------------------------------------
    def _to(self, state: TaskState, now: datetime, **changes: object) -> Task:
        return replace(self, state=state, updated_at=now, **changes)  # type: ignore[arg-type]

    def _expect(self, *states: TaskState) -> None:
        if self.state not in states:
            raise InvalidTransition(f"task {self.ref} is {self.state}, expected {states}")

    def with_status_message(self, message_id: str, now: datetime) -> Task:
        return replace(self, status_message_id=message_id, status_posting=False, updated_at=now)

    def status_post_started(self, now: datetime) -> Task:
        """About to post the status message: after a crash, look for it before posting again."""
        return replace(self, status_posting=True, updated_at=now)

    def staged(self, request: VideoRequest, now: datetime) -> Task:
        self._expect(TaskState.ACCEPTED)
        return replace(self, request=request, updated_at=now)

    def submitting(self, now: datetime) -> Task:
        # The next check stays as it was (due): the claim's lease alone keeps other workers
        # off. If the sender vanishes mid-submit, the row is claimable once the lease lapses
        # and becomes `unknown`, never resent.
        self._expect(TaskState.ACCEPTED)
        return self._to(TaskState.SUBMITTING, now, note=None)

    def requeued(self, now: datetime, next_check_at: datetime, note: str) -> Task:
        """Back to the queue: nothing reached the provider (429, network before send, 401)."""
        self._expect(TaskState.ACCEPTED, TaskState.SUBMITTING)
        return self._to(
            TaskState.ACCEPTED,
            now,
            next_check_at=next_check_at,
            attempts=self.attempts + 1,
            note=note,
        )

    def submitted(self, provider_task_id: str, now: datetime, next_check_at: datetime) -> Task:
        self._expect(TaskState.SUBMITTING)
        return self._to(
            TaskState.SUBMITTED,
            now,
            provider_task_id=provider_task_id,
            submitted_at=now,
            next_check_at=next_check_at,
            attempts=0,
            note=None,
        )

    def polled(
        self,
        running: bool,
        progress: int | None,
        now: datetime,
        next_at: datetime,
        note: str | None = None,
    ) -> Task:
        """The provider still has it; `note` says what the status message should add."""
        self._expect(*RENDERING_STATES)
        state = TaskState.RUNNING if running or self.state is TaskState.RUNNING else self.state
        return self._to(
            state,
            now,
            progress=progress if progress is not None else self.progress,
            next_check_at=next_at,
            polls=self.polls + 1,
            attempts=0,
            note=note,
        )

    def poll_failed(self, now: datetime, next_at: datetime, note: str) -> Task:
        self._expect(*RENDERING_STATES)
        return replace(
            self,
            updated_at=now,
            next_check_at=next_at,
            polls=self.polls + 1,
            attempts=self.attempts + 1,
            note=note,
        )

    def succeeded(self, url: str, expires_at: datetime | None, now: datetime) -> Task:
        self._expect(*RENDERING_STATES, TaskState.SUCCEEDED, TaskState.DELIVERING)
        return self._to(
            TaskState.SUCCEEDED if self.state in RENDERING_STATES else self.state,
            now,
            result_url=url,
            result_expires_at=expires_at,
            progress=100,
            finished_at=self.finished_at or now,
            next_check_at=now,
            polls=self.polls + (1 if self.state in RENDERING_STATES else 0),
            attempts=0,
        )

    def delivering(self, now: datetime) -> Task:
        self._expect(TaskState.SUCCEEDED)
        return self._to(TaskState.DELIVERING, now, next_check_at=now)

    def delivery_started(self, delivery_ref: str, now: datetime) -> Task:
        """Record a half-done upload (Slack's file id, Discord's mark before sending) so a crash
        finishes or finds it, never redoes it."""
        self._expect(TaskState.DELIVERING)
        return replace(self, delivery_ref=delivery_ref, updated_at=now)

    def delivery_failed(self, now: datetime, next_at: datetime, note: str) -> Task:
        self._expect(TaskState.DELIVERING)
        return replace(
            self, updated_at=now, next_check_at=next_at, attempts=self.attempts + 1, note=note
        )

    def delivered(self, delivery_ref: str, now: datetime) -> Task:
        self._expect(TaskState.DELIVERING)
        return self._to(
            TaskState.DELIVERED, now, delivery_ref=delivery_ref, next_check_at=now, note=None
        )

    def undeliverable(self, reason: str, now: datetime) -> Task:
        self._expect(TaskState.SUCCEEDED, TaskState.DELIVERING)
        return self._to(TaskState.UNDELIVERABLE, now, error_message=reason, next_check_at=now)

    def failed(
        self, code: str | None, message: str, now: datetime, by_provider: bool = False
    ) -> Task:
        """`by_provider`: the provider reported this render failed (it is not billed), as
        opposed to a task we stopped being able to see (it may have been)."""
        self._expect(*RENDERING_STATES)
        return self._to(
            TaskState.FAILED,
            now,
            error_code=code,
            error_message=message,
            finished_at=now,
            next_check_at=now,
            provider_failed=by_provider,
        )

    def rejected(self, code: str | None, message: str, now: datetime) -> Task:
        self._expect(TaskState.ACCEPTED, TaskState.SUBMITTING)
        return self._to(
            TaskState.REJECTED, now, error_code=code, error_message=message, next_check_at=now
        )

    def unknown(self, message: str, now: datetime) -> Task:
        self._expect(TaskState.SUBMITTING)
        return self._to(TaskState.UNKNOWN, now, error_message=message, next_check_at=now)

    def cancelled(self, now: datetime) -> Task:
        if self.state.is_terminal:
            raise InvalidTransition(f"task {self.ref} has already ended ({self.state})")
        return self._to(TaskState.CANCELLED, now, next_check_at=now)

    def timed_out(self, now: datetime) -> Task:
        if self.state.is_terminal:
            raise InvalidTransition(f"task {self.ref} has already ended ({self.state})")
        return self._to(TaskState.TIMED_OUT, now, next_check_at=now)

    def notified(self, now: datetime) -> Task:
        """The final status is on screen: nothing is left to do for this row."""
        if self.state.is_live:
            raise InvalidTransition(f"task {self.ref} is still {self.state}")
        return replace(self, updated_at=now, next_check_at=None)

    def rescheduled(self, now: datetime, next_at: datetime) -> Task:
        return replace(self, updated_at=now, next_check_at=next_at)

    # -- derived -----------------------------------------------------------------------------
    def is_past_deadline(self, now: datetime) -> bool:
        return now >= self.deadline_at

    def elapsed(self, now: datetime) -> timedelta:
        return now - (self.submitted_at or self.created_at)

    def nonce(self, purpose: str) -> str:
        """A per-task, per-purpose id short enough for Discord's 25-character nonce."""
        return f"vb{self.ref}{purpose}"[:25]


# Sent to a provider and not yet posted: only that provider's API can still finish these.
HELD_STATES = frozenset(
    {
        TaskState.SUBMITTING,
        TaskState.SUBMITTED,
        TaskState.RUNNING,
        TaskState.SUCCEEDED,
        TaskState.DELIVERING,
    }
)


def held_elsewhere(tasks: list[Task], provider: str) -> list[Task]:
    """Tasks a provider other than `provider` holds (see HELD_STATES): polled through another
    provider's API they would be lost, though paid for."""
    return [t for t in tasks if t.state in HELD_STATES and t.provider and t.provider != provider]
