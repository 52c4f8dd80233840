"""The core's ports: what it needs from storage, the video provider and a chat platform.
Adapters implement them; the core imports nothing else from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from bot.domain import MediaRef, ReplyTarget, TaskState, VideoRequest
from bot.messages import StatusView
from bot.pricing import Usage
from bot.task import Task

Checkpoint = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UserLimits:
    """Per-user caps and spending budgets, checked in the same statement that records a task
    (so two concurrent commands cannot both slip under a cap). `month_start` set: the task's
    estimate is checked against the stored budgets (bot.ports.Budget) and reserved; admins
    pass `user_budgets=False` (only workspace and channel budgets bind them)."""

    day_start: datetime
    daily: int | None = None
    concurrent: int | None = None
    month_start: datetime | None = None
    user_budgets: bool = True


BudgetScope = Literal["user", "workspace", "channel"]
BudgetPeriod = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A cap on spending, in micro-units of `unit`, over a UTC day or calendar month. `subject`
    is the user key (platform:workspace:user), workspace key (platform:workspace) or channel
    key (platform:channel) it binds, or `*`: each user's (workspace's, channel's) own, unless
    a budget names that subject."""

    scope: BudgetScope
    period: BudgetPeriod
    limit: int
    unit: str
    subject: str = "*"


@dataclass(frozen=True, slots=True)
class SpendQuery:
    """A spending report: spend since `since`, grouped `by` user | workspace | channel | day |
    provider, optionally of one user, one workspace and/or one channel only."""

    since: datetime
    by: str = "user"
    user_key: str | None = None
    workspace_key: str | None = None
    channel_key: str | None = None


@dataclass(frozen=True, slots=True)
class SpendLine:
    """One group of a report: `spent` counts settled costs plus reservations still held
    (`held`, the estimates of tasks not yet ended), in micro-units of `unit`."""

    key: str
    unit: str
    tasks: int
    spent: int
    held: int


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """A filter over the ledger; every field narrows it."""

    states: frozenset[TaskState] | None = None
    user_key: str | None = None
    since: datetime | None = None
    limit: int = 50
    idem_key: str | None = None  # the task a command (its platform event) recorded, if any


class Ledger(Protocol):
    """Durable task storage. Every write is committed before the call returns."""

    async def add(self, task: Task, limits: UserLimits | None = None) -> tuple[Task, bool]:
        """Insert `task`; if its idem_key exists already, return the stored task and False.
        Idempotent on the key, so platform retries and double clicks are harmless. Raises
        QuotaExceeded, recording nothing, when the user is at one of `limits`, and
        LedgerUnavailable, recording nothing, when the storage cannot take the write (disk
        full) after a short retry.

        Spending: a task with an `estimate` reserves it in the same atomic step (its spend
        row: user, workspace, channel, provider, unit, created_at). With `limits.month_start`
        set, that step first checks every applicable Budget: for each, the spend of its scope
        (the user, workspace or channel of `task.target`) in `unit` since the period's start
        (`limits.day_start` or `limits.month_start`) plus the estimate must stay within the
        limit, else BudgetExceeded (scope, period, limit, spent), recording nothing. A row's
        spend is its settled amount once known, else its reservation. Settling is `save`'s
        job: whenever bot.pricing.settlement(new) changes, the row's spend becomes it (0 for a
        released reservation), in the same write as the transition."""
        ...

    async def save(self, old: Task, new: Task) -> Task | None:
        """Persist `new` only if the stored row is still `old` (same version). Returns the stored
        task (version bumped), or None if someone else moved it first. A write the storage
        cannot take (disk full) is retried with backoff until it lands: the caller waits."""
        ...

    async def get(self, ref_or_id: str) -> Task | None:
        """One task by its short reference or its full id."""
        ...

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        """Rows whose next_check_at <= now and that no live lease holds, oldest first, at most
        one user's share at a time. A look only: nothing is taken (the worker claims)."""
        ...

    # -- leases: claims that hold across processes (added with the PostgreSQL ledger) --------
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Task]:
        """Take up to `limit` of the rows `due` would return and lease each until now + lease:
        its version is bumped, which fences out every later save of an earlier holder, and no
        other claim takes it before the lease lapses or is released (should its holder
        vanish, it is due again then). The lease is kept apart from next_check_at, so the
        holder's own saves never shorten it. Rows another claimer is taking are skipped,
        never waited for. Returns the claimed rows (new version), fairest first."""
        ...

    async def renew(self, task_id: str, held_until: datetime, until: datetime) -> bool:
        """Extend the lease ending at `held_until` to `until` (a long step); False when the
        lease is no longer ours (it lapsed and another claimer took the row)."""
        ...

    async def release(self, task_id: str, held_until: datetime) -> None:
        """End the lease ending at `held_until` (the step is done); a no-op if it is no longer
        ours. The row is then due at whatever next_check_at the step left it."""
        ...

    # -- end of the lease methods -------------------------------------------------------------

    async def find(self, query: TaskQuery) -> list[Task]:
        """Tasks matching `query`, newest first."""
        ...

    async def count(
        self, states: frozenset[TaskState], created_before: datetime | None = None
    ) -> int:
        """How many tasks are in `states` (created before a time, for queue positions)."""
        ...

    async def hold(self, ref: str, task: Task, expires_at: datetime, now: datetime) -> str:
        """Keep `task` (not recorded: nothing reserved or sent) waiting for its requester's
        Confirm as `ref` until `expires_at`. A request with the same idem_key still waiting
        keeps the ref it has, which is returned. Expired requests are forgotten."""
        ...

    async def held(self, ref: str, now: datetime) -> tuple[Task, datetime] | None:
        """The request waiting as `ref` and when it expires; None once it expired or went."""
        ...

    async def unhold(self, ref: str) -> None:
        """Forget the request waiting as `ref` (declined)."""
        ...

    async def take_slot(self, task_id: str, cap: int, now: datetime, until: datetime) -> bool:
        """Hold one of the provider's `cap` render slots for the task (about to be sent) until
        `until`: True if one was free. A slot counts tasks at the provider (submitting and
        rendering) and tasks holding a slot not yet sent; the check and the hold are one atomic
        step for every process sharing the ledger. Holding one already renews it."""
        ...

    async def release_slot(self, task_id: str) -> None:
        """Drop the task's slot hold (sent, or back in the queue: its state speaks now)."""
        ...

    async def media_in_use(self, ended_since: datetime) -> frozenset[str]:
        """The stored paths of every user medium a task may still need: tasks still live, or
        ended (last changed) at or after `ended_since` (Retry sends them again)."""
        ...

    async def next_due_at(self, after: datetime | None = None) -> datetime | None:
        """The earliest next_check_at of any row (later than `after`, when given), so the
        worker can sleep until then; with `after`, also the end of a lease on a due row
        (another worker's, which may have died), when that comes first."""
        ...

    async def set_budgets(self, budgets: list[Budget]) -> None:
        """Replace every stored budget with `budgets` (today the settings, at start; a later
        admin command writes the same table). Takes effect for the next `add`."""
        ...

    async def seed_budgets(self, budgets: list[Budget]) -> bool:
        """The settings' budgets at start: replace the stored ones with `budgets` only if they
        differ from what the last seeding stored (the settings changed since), so a change
        made meanwhile through the ledger (an admin command) survives a restart with the same
        settings. Returns True when it replaced them. Atomic."""
        ...

    async def budgets(self) -> list[Budget]:
        """The stored budgets."""
        ...

    async def spend(self, query: SpendQuery) -> list[SpendLine]:
        """Spending since `query.since` (by created_at), grouped by `query.by` (a day is its
        UTC date, `YYYY-MM-DD`), per unit, largest spend first. Unknown outcomes count as
        spent, released reservations as nothing."""
        ...

    async def make_due(self, provider_task_id: str, now: datetime) -> str | None:
        """Make the rendering task (submitted or running) that the provider knows as
        `provider_task_id` due for a poll at `now`, never later than it already was; returns
        its task_id, or None when no rendering task has that id. Only the schedule moves:
        state and version stay as they are, so a worker mid-step on the task is not fenced
        out and nothing but the poll can change what the task is. Idempotent. Raises
        LedgerUnavailable, changing nothing, when the storage cannot take the write."""
        ...


class ProviderState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # a status name the dialect does not know, with nothing final in it


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """A provider's task, mapped from whatever dialect onto our canonical states."""

    state: ProviderState
    progress: int | None = None
    video_url: str | None = None
    expires_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw_state: str | None = None  # the provider's own word, kept when state is UNKNOWN
    usage: Usage | None = None  # what the provider reported the task cost, when it did

    def failure(self) -> tuple[str | None, str]:
        """(code, message) to record when this status ends a task without a video."""
        if self.state is ProviderState.SUCCEEDED:
            return "no_result", "the video service reported success but gave no video"
        if self.state is ProviderState.CANCELLED:
            return "cancelled", self.error_message or "the video service cancelled the task"
        if self.state is ProviderState.EXPIRED:
            return "expired", self.error_message or "the result expired before it was fetched"
        return self.error_code, self.error_message or "the render failed"


class Provider(Protocol):
    """The video API. Raises the ProviderError subclasses of bot.errors."""

    async def stage(self, media: MediaRef) -> str:
        """Make `media` fetchable by the provider and return its URL. Free and repeatable."""
        ...

    async def submit(
        self,
        request: VideoRequest,
        task_id: str,
        *,
        wait: bool = True,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Start a paid generation; returns the provider's task id. Never retried blindly:
        raises SubmitAmbiguous when the provider may have created the task anyway. With
        `wait=False` it never waits (429 hold, back-off): it raises RateLimited/Unreachable,
        nothing sent. `on_send` is awaited once, just before the request's first byte leaves
        (the moment the task becomes possibly billed); if it raises, nothing is sent."""
        ...

    def held_for(self) -> timedelta:
        """How much longer the provider asked us to send nothing (a 429's Retry-After held
        client-wide); zero when requests may leave now. Submits wait for it in the queue."""
        ...

    def shareable(self, url: str) -> str | None:
        """The working link to give the requester for a result whose stored `url` may have
        been redacted (a signed link's credentials); None when this process never saw the real
        one or it carries our own key, which no message may show."""
        ...

    async def fetch(self, provider_task_id: str) -> ProviderStatus:
        """The task's current status. Idempotent; transient failures are retried inside."""
        ...

    async def download(self, url: str, dest: Path, max_bytes: int) -> int:
        """Stream the result to `dest` (never whole in memory); returns the byte count.
        Raises ResultExpired when the URL no longer serves the video."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """A video ready to post: the file, its caption and a stable key for de-duplication."""

    path: Path
    filename: str
    title: str
    caption: str
    key: str
    size: int
    resume_ref: str | None = None  # what `checkpoint` recorded before a crash, if anything


class Chat(Protocol):
    """A chat platform, seen through durable ids. Raises DeliveryError / DeliveryTransient."""

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        """Post the status message (the task's thread root); returns its message id."""
        ...

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        """Replace the status message's content with `view`. Idempotent."""
        ...

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        """Post the MP4 into the task's thread; returns a delivery reference. Must reconcile
        first (a post found under `delivery.key` or `delivery.resume_ref` is not posted again)
        so a crash between upload and ledger write never posts twice. A multi-step upload
        calls `checkpoint(ref)` to persist its half-done state before the step that posts."""
        ...

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        """The fallback when a file cannot be uploaded: a message with the result link."""
        ...


@runtime_checkable
class StatusFinder(Protocol):
    """A chat that can find a status message it posted earlier (by the key it was posted
    with). The worker then posts each status message once even if it crashed between the
    post and recording the message id."""

    async def find_status(self, target: ReplyTarget, key: str) -> str | None:
        """The message id of the status message posted under `key`, if there is one."""
        ...


class Observer(Protocol):
    """What the engine reports for metrics and health. Calls are synchronous and cheap
    (counters in memory); an implementation must never raise into the engine."""

    def transition(self, task: Task, old: TaskState, new: TaskState) -> None:
        """A task moved; `task` is the new version (its times give durations)."""
        ...

    def provider_call(self, operation: str, seconds: float, outcome: str) -> None:
        """One HTTP exchange with the video API: submit | poll | stage | download, and the
        outcome (ok | rejected | auth | rate_limited | transient | ambiguous | not_found)."""
        ...

    def delivery_failed(self, platform: str, permanent: bool) -> None:
        """A post or upload to a chat platform failed."""
        ...

    def heartbeat(self) -> None:
        """The worker loop is alive (called on every turn of the loop)."""
        ...


class NullObserver:
    """Reports nothing: the default when metrics are off."""

    def transition(self, task: Task, old: TaskState, new: TaskState) -> None:
        pass

    def provider_call(self, operation: str, seconds: float, outcome: str) -> None:
        pass

    def delivery_failed(self, platform: str, permanent: bool) -> None:
        pass

    def heartbeat(self) -> None:
        pass
