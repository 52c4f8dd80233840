"""The core's ports: what it needs from storage, the video provider and a chat platform.
Adapters implement them; the core imports nothing else from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from bot.domain import MediaRef, ReplyTarget, TaskState, VideoRequest
from bot.messages import StatusView
from bot.pricing import Usage
from bot.task import Task

Checkpoint = Callable[[str], Awaitable[None]]


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
