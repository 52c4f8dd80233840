"""The simulator's bookkeeping: one simulated render per task, and the counters tests read."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class SimTask:
    task_id: str
    dialect: str
    created: float
    created_wall: datetime
    render_seconds: float
    queue_seconds: float
    fate: str  # succeed | fail | policy | never
    model: str
    mode: str
    prompt: str
    duration: int
    aspect_ratio: str
    image_count: int
    done_at: float | None = None
    callback_url: str | None = None  # where the provider would call when the task ends
    image: bytes | None = field(default=None, repr=False)  # the first input image, if held

    @property
    def finishes_at(self) -> float:
        """Simulator time at which the render ends (successfully or not)."""
        return self.created + self.queue_seconds + self.render_seconds

    def status(self, now: float) -> tuple[str, int]:
        """(queued | running | completed | failed, progress 0-100) at simulator time `now`."""
        elapsed = now - self.created
        if elapsed < self.queue_seconds:
            return "queued", 0
        rendering = elapsed - self.queue_seconds
        fraction = rendering / self.render_seconds if self.render_seconds > 0 else 1.0
        if self.fate == "never":
            return "running", min(99, int(fraction * 100))
        if self.fate in ("fail", "policy") and fraction >= 0.5:
            return "failed", 50
        if fraction >= 1.0:
            return "completed", 100
        return "running", min(99, int(fraction * 100))

    @property
    def ends_at(self) -> float | None:
        """Simulator time at which the task reaches its final state (None: it never does)."""
        if self.fate == "never":
            return None
        if self.fate in ("fail", "policy"):
            return self.created + self.queue_seconds + self.render_seconds * 0.5
        return self.finishes_at

    def error(self) -> dict[str, str]:
        if self.fate == "policy":
            return {
                "code": "content_policy_violation",
                "message": "The prompt was flagged by the content safety system.",
            }
        return {"code": "internal_error", "message": "The render failed on the GPU worker."}


class TaskBook(dict[str, SimTask]):
    """The simulator's tasks by id, noting each new one (whichever speaker created it) so the
    callback sender can look at it once its creator has filled it in."""

    def __init__(self) -> None:
        super().__init__()
        self.fresh: deque[str] = deque()
        self.on_new: Callable[[], None] | None = None

    def __setitem__(self, task_id: str, task: SimTask) -> None:
        if task_id not in self:
            self.fresh.append(task_id)
            if self.on_new is not None:
                self.on_new()
        super().__setitem__(task_id, task)


@dataclass
class Stats:
    requests: int = 0
    tasks_created: int = 0
    responses_401: int = 0
    responses_429: int = 0
    responses_500: int = 0
    dropped: int = 0
    uploads: int = 0
    submits_by_key: Counter[str] = field(default_factory=Counter)
    submits_by_prompt: Counter[str] = field(default_factory=Counter)
    polls_by_task: Counter[str] = field(default_factory=Counter)
    downloads_by_task: Counter[str] = field(default_factory=Counter)
    request_times: list[float] = field(default_factory=list)
    callbacks_sent: int = 0  # deliveries answered 2xx (a duplicate counts again)
    callbacks_failed: int = 0  # deliveries given up after every try
    callback_attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "tasks_created": self.tasks_created,
            "responses_401": self.responses_401,
            "responses_429": self.responses_429,
            "responses_500": self.responses_500,
            "dropped": self.dropped,
            "uploads": self.uploads,
            "submits_by_key": dict(self.submits_by_key),
            "submits_by_prompt": dict(self.submits_by_prompt),
            "polls_by_task": dict(self.polls_by_task),
            "downloads_by_task": dict(self.downloads_by_task),
            "callbacks_sent": self.callbacks_sent,
            "callbacks_failed": self.callbacks_failed,
            "callback_attempts": self.callback_attempts,
        }
