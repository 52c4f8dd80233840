"""Getting a finished video into the thread: stream it to a scratch file, check it is an MP4,
upload it through the chat port (which reconciles, so a retry never posts twice), and fall back
to a link that says when it dies when the file cannot be posted."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot import messages, outcomes
from bot.errors import DeliveryError, DeliveryTransient, ProviderError, ResultExpired
from bot.policy import WorkerPolicy, backoff
from bot.ports import Chat, Delivery, Observer, Provider, ProviderState
from bot.task import Task

log = logging.getLogger("videobot.delivery")

UNSAFE_LINK = "unsafe_link"
Save = Callable[[Task, Task], Awaitable[Task | None]]


def is_mp4(head: bytes) -> bool:
    """An ISO-BMFF file starts with a box whose type, at offset 4, is `ftyp`."""
    return len(head) >= 12 and head[4:8] == b"ftyp"


def video_filename(task: Task) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", task.request.prompt.lower()).strip("-")[:40].strip("-")
    return f"videobot-{task.ref}-{words or 'video'}.mp4"


class _Superseded(Exception):
    """The task changed elsewhere mid-delivery: stop, post nothing more (no fallback link)."""


class Deliverer:
    def __init__(
        self,
        provider: Provider,
        policy: WorkerPolicy,
        clock: Callable[[], datetime],
        scratch_dir: Path,
        rng: random.Random,
        observer: Observer,
    ) -> None:
        self._provider = provider
        self._policy = policy
        self._clock = clock
        self._scratch = scratch_dir
        self._rng = rng
        self._observer = observer

    async def deliver(self, task: Task, chat: Chat, save: Save) -> Task | None:
        """One delivery attempt for a task in `delivering`; returns the saved outcome."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        path = self._scratch / f"{task.task_id}.mp4.part"
        try:
            return await self._attempt(task, chat, save, path)
        finally:
            path.unlink(missing_ok=True)

    async def _attempt(self, task: Task, chat: Chat, save: Save, path: Path) -> Task | None:
        try:
            task, size = await self._download(task, path)
        except ResultExpired:
            return await self._fallback(
                task, chat, save, "the video expired before I could fetch it"
            )
        except ProviderError as err:
            if err.code == "refused":
                # The link leads somewhere we never fetch from (a private address, another
                # scheme): passing it on to the user would be no safer than fetching it.
                return await self._fallback(task, chat, save, f"unsafe result link: {err}", False)
            if err.code == "too_large":
                return await self._fallback(task, chat, save, str(err))
            return await self._retry_later(task, chat, save, f"download failed: {err}", None)
        with path.open("rb") as file:
            if not is_mp4(file.read(12)):
                return await self._fallback(
                    task, chat, save, "the video service sent a file that is not an MP4"
                )
        delivery = Delivery(
            path=path,
            filename=video_filename(task),
            title=messages.result_title(task),
            caption=messages.result_caption(task),
            key=task.nonce("v"),
            size=size,
            resume_ref=task.delivery_ref,
        )
        current = task

        async def checkpoint(ref: str) -> None:
            nonlocal current
            saved = await save(current, current.delivery_started(ref, self._clock()))
            if saved is None:
                raise _Superseded
            current = saved

        try:
            posted = await chat.upload_video(
                task.target, task.status_message_id, delivery, checkpoint
            )
        except _Superseded:
            log.info("task %s changed while its video was being posted; leaving it", task.ref)
            return None
        except DeliveryTransient as err:
            self._observer.delivery_failed(task.target.platform, permanent=False)
            return await self._retry_later(current, chat, save, str(err), err.retry_after)
        except DeliveryError as err:
            self._observer.delivery_failed(task.target.platform, permanent=True)
            return await self._fallback(current, chat, save, f"the upload was refused: {err}")
        log.info("task %s delivered (%d bytes) as %s", task.ref, size, posted)
        return await save(current, current.delivered(posted, self._clock()))

    async def _download(self, task: Task, path: Path) -> tuple[Task, int]:
        assert task.result_url is not None
        try:
            size = await self._provider.download(
                task.result_url, path, self._policy.max_video_bytes
            )
            return task, size
        except ResultExpired:
            if task.provider_task_id is None:
                raise
        # The link died (24 h expiry, or a signed URL that rotated): ask for a fresh one once.
        status = await self._provider.fetch(task.provider_task_id)
        if status.state is not ProviderState.SUCCEEDED or not status.video_url:
            raise ResultExpired("the provider has no fresh link for this video")
        fresh = task.succeeded(status.video_url, status.expires_at, self._clock())
        size = await self._provider.download(
            fresh.result_url or "", path, self._policy.max_video_bytes
        )
        return fresh, size

    async def _retry_later(
        self, task: Task, chat: Chat, save: Save, note: str, retry_after: timedelta | None
    ) -> Task | None:
        if task.attempts + 1 >= self._policy.delivery_attempts:
            return await self._fallback(
                task, chat, save, f"posting failed {task.attempts + 1} times ({note})"
            )
        now = self._clock()
        wait = backoff(task.attempts + 1, timedelta(seconds=2), self._policy.retry_cap, self._rng)
        wait = max(wait, retry_after or timedelta(0))
        log.warning("task %s: delivery attempt %d failed: %s", task.ref, task.attempts + 1, note)
        return await save(task, task.delivery_failed(now, now + wait, note))

    async def _fallback(
        self, task: Task, chat: Chat, save: Save, reason: str, share_link: bool = True
    ) -> Task | None:
        ended = task.undeliverable(reason, self._clock())
        if not share_link:
            ended = replace(ended, error_code=UNSAFE_LINK)
        elif task.result_url:
            # The stored link may be redacted (a signed link's credentials): the requester gets
            # the working one this process downloaded from, never one carrying our key.
            link = self._provider.shareable(task.result_url)
            shown = replace(ended, result_url=link) if link else replace(ended, result_url=None)
            try:
                await chat.post_link(
                    task.target,
                    task.status_message_id,
                    outcomes.undeliverable_text(shown),
                    task.nonce("l"),
                )
            except DeliveryError as err:
                log.warning("task %s: could not post the fallback link either: %s", task.ref, err)
        log.warning("task %s undeliverable: %s", task.ref, reason)
        return await save(task, ended)
