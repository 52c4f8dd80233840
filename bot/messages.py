"""Every user-facing string but the help (bot/usage.py), and a Task rendered as a status view.
Adapters turn a StatusView into Block Kit, an embed or terminal text; they add no wording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.domain import TaskState
from bot.outcomes import ENDED, human_duration
from bot.spending import about, cost_words

if TYPE_CHECKING:
    from bot.task import Task


@dataclass(frozen=True, slots=True)
class Button:
    """An action offered on a status message; `ref` travels in the platform's action id."""

    action: str  # cancel | retry | flip | edit
    label: str
    ref: str
    style: str = "default"  # default | primary | danger


@dataclass(frozen=True, slots=True)
class StatusView:
    ref: str
    state: str
    prompt: str
    headline: str
    summary: str
    detail: str
    progress: int | None
    buttons: tuple[Button, ...]
    final: bool

    def text(self) -> str:
        """The whole view as plain text (console, notifications, fallbacks)."""
        lines = [f"{self.headline}  [{self.ref}]", self.summary]
        if self.detail:
            lines.append(self.detail)
        return "\n".join(lines)


_HEADLINES = {
    TaskState.ACCEPTED: "⏳ Queued",
    TaskState.SUBMITTING: "📨 Sending to the video service",
    TaskState.SUBMITTED: "⏳ Queued at the video service",
    TaskState.RUNNING: "🎬 Rendering",
    TaskState.SUCCEEDED: "📦 Rendered, fetching the video",
    TaskState.DELIVERING: "📤 Posting the video",
    TaskState.DELIVERED: "✅ Done",
    TaskState.UNDELIVERABLE: "⚠️ Ready, but I could not post the file",
    TaskState.FAILED: "❌ The video service could not make this video",
    TaskState.REJECTED: "❌ The video service refused the request",
    TaskState.UNKNOWN: "❓ Submission outcome unknown",
    TaskState.CANCELLED: "🚫 Cancelled",
    TaskState.TIMED_OUT: "⌛ Timed out",
}

# The status line's words for a state, where a sentence or `list` names one (never the
# internal names `delivered`, `timed_out`, `accepted`).
_STATE_WORDS = {
    TaskState.ACCEPTED: "queued",
    TaskState.SUBMITTING: "sending",
    TaskState.SUBMITTED: "queued at the video service",
    TaskState.RUNNING: "rendering",
    TaskState.SUCCEEDED: "fetching the video",
    TaskState.DELIVERING: "posting the video",
    TaskState.DELIVERED: "done",
    TaskState.UNDELIVERABLE: "ready, not posted",
    TaskState.FAILED: "failed",
    TaskState.REJECTED: "refused",
    TaskState.UNKNOWN: "outcome unknown",
    TaskState.CANCELLED: "cancelled",
    TaskState.TIMED_OUT: "timed out",
}


def state_words(state: TaskState) -> str:
    return _STATE_WORDS[state]


def progress_bar(progress: int, width: int = 10) -> str:
    filled = max(0, min(width, round(progress * width / 100)))
    return "▓" * filled + "░" * (width - filled)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summary(task: Task) -> str:
    req = task.request
    who = f" · requested by {task.target.user_name}" if task.target.user_name else ""
    return f"“{clip(req.prompt, 200)}” · {' · '.join(_shape(task))}{who}"


def _shape(task: Task, priced: bool = True) -> list[str]:
    """Mode, ratio, length, when the user chose one the resolution, and the estimate."""
    req = task.request
    shape = [req.mode.label, req.aspect_ratio, f"{req.duration}s"]
    if req.resolution:
        shape.append(req.resolution)
    return [*shape, about(task)] if priced and task.estimate is not None else shape


def _detail(task: Task, now: datetime, queue_position: int | None) -> str:
    if task.state.is_terminal:
        cost = cost_words(task)
        return f"{ENDED[task.state](task)} {cost}" if cost else ENDED[task.state](task)
    if task.state is TaskState.ACCEPTED:
        if task.note:
            return f"Waiting: {task.note}. Your request is kept and will go out by itself."
        if queue_position:
            return f"Position {queue_position} in the queue."
        return "Sending it to the video service now."
    if task.state in (TaskState.SUBMITTED, TaskState.RUNNING):
        waited = human_duration(task.elapsed(now))
        if task.progress is not None and task.state is TaskState.RUNNING:
            line = f"{progress_bar(task.progress)} {task.progress}% · {waited} so far"
        elif task.state is TaskState.RUNNING:  # providers that report no progress (Google)
            line = f"Rendering · {waited} so far"
        else:
            line = f"Waiting for a render slot · {waited} so far"
        return f"{line} ({task.note})" if task.note else line
    if task.state is TaskState.DELIVERING and task.note:
        return f"Posting failed, trying again: {task.note}"
    return ""


def buttons(task: Task) -> tuple[Button, ...]:
    if task.state in (TaskState.SUBMITTING, TaskState.SUCCEEDED, TaskState.DELIVERING):
        return ()
    if task.state.is_live:
        return (Button("cancel", "Cancel", task.ref, "danger"),)
    other = "16:9" if task.request.aspect_ratio == "9:16" else "9:16"
    ended = [
        Button("retry", "Retry", task.ref, "primary"),
        Button("flip", f"Make it {other}", task.ref),
    ]
    if task.state is TaskState.DELIVERED:
        ended.append(Button("edit", "Edit this video", task.ref))
    return tuple(ended)


def status_view(task: Task, now: datetime, queue_position: int | None = None) -> StatusView:
    headline = _HEADLINES[task.state]
    if task.state is TaskState.RUNNING and task.progress is not None:
        headline = f"{headline} {task.progress}%"
    return StatusView(
        ref=task.ref,
        state=task.state.value,
        prompt=task.request.prompt,
        headline=headline,
        summary=summary(task),
        detail=_detail(task, now, queue_position),
        progress=task.progress if task.state is TaskState.RUNNING else None,
        buttons=buttons(task),
        final=task.state.is_terminal,
    )


def accepted_reply(task: Task, duplicate: bool = False) -> str:
    if duplicate:
        return f"Already on it: task {task.ref} ({state_words(task.state)})."
    return (
        f"Got it: task {task.ref} ({', '.join(_shape(task))}). "
        "I will keep its status message up to date and post the video in its thread."
    )


def result_title(task: Task) -> str:
    return clip(task.request.prompt, 120)


def result_caption(task: Task) -> str:
    req = task.request
    who = f"{task.target.user_name}: " if task.target.user_name else ""
    return f"{who}“{clip(req.prompt, 300)}” ({', '.join(_shape(task, priced=False))})"


def task_line(task: Task) -> str:
    progress = f" {task.progress}%" if task.state is TaskState.RUNNING and task.progress else ""
    prompt = clip(task.request.prompt, 60)
    words = state_words(task.state)
    return f"{task.ref}  {words}{progress}  {task.request.mode.label}  “{prompt}”"


CANCEL_DONE = "Cancelled task {ref}."
CANCEL_TOO_LATE = "Task {ref} has already ended ({state}); there is nothing to cancel."
CANCEL_BUSY = "Task {ref} is being {what} right now; try again in a few seconds."
NOT_FOUND = "No task {ref} here. `list` shows your recent tasks."
NOT_YOURS = "Task {ref} belongs to someone else; only they (or an admin) can do that."
UNPOSTABLE = (
    "I cannot post in that conversation (I am not a member of it, or may not write there), "
    "so nothing was sent or charged. Ask me in a channel I am in, or in your direct messages "
    "with me."
)
RETRY_LIVE = "Task {ref} is still running; cancel it first or wait for it to end."
MEDIA_GONE = (
    "The images or clip of task {ref} are no longer kept (media is deleted a while after its "
    "task ends); send the request again with them."
)
DAILY_LIMIT = (
    "You have made {limit} videos today, the daily limit here. It resets at 00:00 UTC "
    "(in {wait}). Nothing was charged for this request."
)
NOT_RECORDED = (
    "Your request could not be saved just now because the bot's storage is full or failing, "
    "so nothing was started and nothing will be charged. Please try again in a few minutes; "
    "if this keeps happening, tell whoever runs the bot."
)
CONCURRENT_LIMIT = (
    "You already have {limit} videos in progress, the most one person can run at once. "
    "Send this again when one finishes (or cancel one with `cancel <ref>`)."
)
WORKSPACE_NOT_ALLOWED = (
    "videobot is not enabled for this workspace or server. Its operator can add it to "
    "VIDEOBOT_ALLOWED_WORKSPACES."
)
CHANNEL_NOT_ALLOWED = (
    "videobot is not enabled in this channel. Ask an admin to allow it, or use a channel "
    "where videobot works."
)
USER_NOT_ALLOWED = "You are not on the list of people who can make videos here; ask an admin."
UNFAMILIAR_STATUS = (
    "the video service reports “{status}”, a status this bot does not recognise; it keeps checking"
)
POLL_TROUBLE = (
    "the video service has not answered the last {count} checks ({error}); "
    "I keep trying until {until}, nothing for you to do yet"
)
POLL_REFUSED = "the video service refused to report on this task: {reason}"
NO_TASKS = "No tasks yet. Try `/video a paper boat on a river`."
MISCONFIGURED = (
    "The bot is misconfigured (the video service refused its API key). An operator has been "
    "alerted; your request is kept and will go out once that is fixed."
)


def either(items: Sequence[str]) -> str:
    """`6`, `6 or 10`, `4, 6 or 10`."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
