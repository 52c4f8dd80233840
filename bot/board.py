"""The status board: posts each task's status message and keeps it current, at most every
status_interval per task and only on a visible change (chat platforms rate-limit edits).
Chat trouble never blocks the paid work; a final status is retried until it is shown."""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot import messages
from bot.domain import TaskState
from bot.errors import DeliveryError, DeliveryTransient, MessageGone
from bot.ledger import Ledger
from bot.messages import StatusView
from bot.policy import WorkerPolicy, backoff
from bot.ports import Chat, StatusFinder
from bot.task import Task

log = logging.getLogger("videobot.worker")

Save = Callable[[Task, Task], Awaitable[Task | None]]
_REMEMBERED = 10_000  # final statuses remembered; a row that ended longer ago is long done


class StatusBoard:
    def __init__(
        self,
        ledger: Ledger,
        chats: Mapping[str, Chat],
        policy: WorkerPolicy,
        clock: Callable[[], datetime],
        save: Save,
        rng: random.Random,
    ) -> None:
        self._ledger = ledger
        self._chats = chats
        self._policy = policy
        self._clock = clock
        self._save = save
        self._rng = rng
        self._shown: dict[str, tuple[tuple[str, ...], datetime]] = {}
        self._unpostable: set[str] = set()  # status posts refused for good (until the end)
        # The final state each task was shown in. A stale read, or a lost race to record
        # `notified`, brings an ended row back; it must not post its final status again.
        self._ended: OrderedDict[str, TaskState] = OrderedDict()

    async def show(
        self, task: Task, force: bool = False, queue_position: int | None = None
    ) -> Task | None:
        """Post or edit the status message. Returns the task (with its message id once
        posted), or None if the row moved meanwhile. Raises DeliveryTransient only if forced."""
        if task.task_id in self._ended and task.state.is_live:
            return None  # a stale copy of a row whose final status is on screen already
        chat = self._chats[task.target.platform]
        now = self._clock()
        view = messages.status_view(task, now, queue_position)
        key: tuple[str, ...] = (
            view.state,
            view.headline,
            task.note or "",
            view.detail if view.final else "",
        )
        if queue_position is not None:
            key += (str(queue_position),)
        last = self._shown.get(task.task_id)
        if task.status_message_id is None and task.task_id in self._unpostable and not force:
            return task  # the platform refused the post for good; only the final status tries
        try:
            if task.status_message_id is None:
                posted = await self._post(chat, task, view)
                if posted is not None:
                    self._shown[task.task_id] = (key, now)
                return posted
            # An edit "in the future" means the wall clock stepped back: not recent.
            recent = (
                last is not None and timedelta(0) <= now - last[1] < self._policy.status_interval
            )
            if last and not force and (last[0] == key or recent):
                return task
            await chat.update_status(task.target, task.status_message_id, view)
            self._shown[task.task_id] = (key, now)
        except MessageGone:
            # Someone deleted the status message: the task is still theirs, so post it anew.
            log.info("task %s: status message was deleted; posting a new one", task.ref)
            self._shown.pop(task.task_id, None)
            fresh = replace(task, status_message_id=None)
            saved = await self._save(task, fresh)
            return await self.show(saved, force, queue_position) if saved else None
        except DeliveryTransient as err:
            if force:
                raise
            # A skipped progress edit is harmless: the next poll renders the status again.
            log.debug("task %s: status edit deferred: %s", task.ref, err)
        except DeliveryError as err:
            if task.status_message_id is None:
                # e.g. not_in_channel: trying again on every poll only repeats the refusal.
                self._unpostable.add(task.task_id)
            log.warning("task %s: status message not updated: %s", task.ref, err)
        return task

    async def _post(self, chat: Chat, task: Task, view: StatusView) -> Task | None:
        """Post the status message once, even across a crash: a chat that can find its own
        posts (StatusFinder) gets a marker written first, and after a crash between posting
        and saving the message id it finds that post instead of making a second one."""
        now = self._clock()
        key = task.nonce("s")
        if isinstance(chat, StatusFinder):
            if task.status_posting:
                found = await chat.find_status(task.target, key)
                if found is not None:
                    log.info("task %s: found its status message after a restart", task.ref)
                    return await self._save(task, task.with_status_message(found, now))
            else:
                marked = await self._save(task, task.status_post_started(now))
                if marked is None:
                    return None
                task = marked
        message_id = await chat.post_status(task.target, view, key)
        return await self._save(task, task.with_status_message(message_id, self._clock()))

    async def finish(self, task: Task) -> bool:
        """Show the final status once; only then is the row done (next_check_at cleared).
        Returns False when the platform asked us to come back later."""
        if self._ended.get(task.task_id) is not task.state:
            try:
                await self.show(task, force=True)
            except DeliveryTransient as err:
                now = self._clock()
                wait = err.retry_after or backoff(
                    task.attempts, timedelta(seconds=2), self._policy.retry_cap, self._rng
                )
                later = replace(task.rescheduled(now, now + wait), attempts=task.attempts + 1)
                await self._save(task, later)
                return False
            self._ended[task.task_id] = task.state
            while len(self._ended) > _REMEMBERED:
                self._ended.popitem(last=False)
        await self._notified(task)
        self._shown.pop(task.task_id, None)
        self._unpostable.discard(task.task_id)
        return True

    def refused(self, task: Task) -> bool:
        """The platform refused this task's status post for good (the bot is not in that
        conversation, or cannot post there): the task's answer could never be shown."""
        return task.status_message_id is None and task.task_id in self._unpostable

    async def _notified(self, task: Task) -> None:
        """Record that nothing is left to do for the row. The row we hold may be older than
        the stored one (the status post saved a message id), and a read may come back stale,
        so read again a few times before leaving it to the next claim (which finds the final
        status already shown and only records this)."""
        for _ in range(3):
            current = await self._ledger.get(task.task_id)
            if current is None or current.state.is_live or current.next_check_at is None:
                return
            if await self._ledger.save(current, current.notified(self._clock())) is not None:
                return
