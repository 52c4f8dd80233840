"""What the final status says of a task that ended: done, failed (whose side, what to do),
refused, unknown, timed out, cancelled, or ready but not posted, in the words users read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain import TaskState

if TYPE_CHECKING:
    from bot.task import Task

_POLICY_CODES = ("content_policy", "policy", "safety", "moderation")
# Failures on the provider's side: another try may work, a new prompt would not help.
_THEIR_SIDE = ("internal", "server", "unavailable", "timeout", "overloaded", "gpu", "capacity")


def sentence(text: str) -> str:
    """`text` as one sentence: a capital, one full stop (a provider's own stop is not doubled)."""
    text = text.strip().rstrip(".").rstrip()
    if not text:
        return ""
    end = "" if text[-1] in "!?…" else "."
    return text[0].upper() + text[1:] + end


def retry_hint(task: Task) -> str:
    """How to run it again where the user is: the console types, the chats have a button."""
    if task.target.platform == "console":
        return f"type `retry {task.ref}`"
    return "press Retry"


def human_duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _delivered(task: Task) -> str:
    took = human_duration(task.updated_at - task.created_at)
    return f"Made in {took}. The video is in this thread."


def _rejected(task: Task) -> str:
    return (
        f"{sentence(task.error_message or 'The request was invalid')} Nothing was charged. "
        "Fix the request and send it again (`/video help` lists what is allowed)."
    )


def _unknown(task: Task) -> str:
    return (
        "The connection dropped while the request was being sent, so I cannot tell whether "
        "the video service started (and billed) it. I will not send it again on my own: if no "
        f"video arrives, {retry_hint(task)}."
    )


def _timed_out(task: Task) -> str:
    limit = human_duration(task.deadline_at - task.created_at)
    return f"No result after {limit}, so I stopped waiting. To try again, {retry_hint(task)}."


def _cancelled(task: Task) -> str:
    if task.provider_task_id:
        return (
            "Cancelled. The video service had already started it and may still bill it; "
            "the result will not be posted."
        )
    return "Cancelled before it was sent: nothing was charged."


def failed_text(task: Task) -> str:
    reason = (task.error_message or "no reason given").strip().rstrip(".")
    code = (task.error_code or "").lower()
    if any(word in code for word in _POLICY_CODES):
        return (
            f"The video service declined this prompt under its content policy: {reason}. "
            "Rephrase the prompt and send it again."
        )
    if any(word in code or word in reason.lower() for word in _THEIR_SIDE):
        return (
            f"Reason given: {reason}. That went wrong on the video service's side, not in "
            f"your prompt: to try again, {retry_hint(task)}."
        )
    return f"Reason given: {reason}. To try again, {retry_hint(task)}."


def undeliverable_text(task: Task) -> str:
    reason = sentence(task.error_message or "the upload failed").rstrip(".")
    if task.error_code == "unsafe_link":
        return f"{reason}. An operator can look into it: `videobot tasks show {task.ref}`."
    if task.result_url and task.result_expires_at:
        until = task.result_expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{reason}. Download it before {until}: {task.result_url}"
    if task.result_url:
        return f"{reason}. Download it soon (the link expires): {task.result_url}"
    return f"{reason}. Ask an operator: `videobot tasks` shows task {task.ref}."


ENDED: dict[TaskState, Callable[[Task], str]] = {
    TaskState.DELIVERED: _delivered,
    TaskState.FAILED: failed_text,
    TaskState.REJECTED: _rejected,
    TaskState.UNKNOWN: _unknown,
    TaskState.TIMED_OUT: _timed_out,
    TaskState.CANCELLED: _cancelled,
    TaskState.UNDELIVERABLE: undeliverable_text,
}
