"""What a pressed button does, beyond opening a form: Cancel, Retry and Make it 9:16/16:9 on a
status message, and Confirm / Cancel on a request held for confirmation."""

from __future__ import annotations

from adapters.slack.answer import Answer
from bot import confirm, messages
from bot.domain import ReplyTarget
from bot.service import VideoService


async def press(  # noqa: PLR0913 (what was pressed, on what, by whom, once, answered where)
    service: VideoService, verb: str, ref: str, by: ReplyTarget, key: str, answer: Answer
) -> None:
    """Raises VideobotError for a press that no longer applies (the caller answers it)."""
    if verb == "cancel":
        task = await service.cancel(ref, by)
        await answer(messages.CANCEL_DONE.format(ref=task.ref))
        return
    if verb == "dismiss":
        await service.dismiss(ref, by)
        await answer(confirm.DISMISSED)
        return
    if verb == "confirm":
        task, created = await service.confirm(ref, by)
        await answer(messages.accepted_reply(task, duplicate=not created))
        return
    ratio = None
    if verb == "flip":
        original = await service.status(ref)
        ratio = "16:9" if original.request.aspect_ratio == "9:16" else "9:16"
    task, created = await service.retry(ref, by, key, aspect_ratio=ratio)
    await answer(messages.accepted_reply(task, duplicate=not created))
