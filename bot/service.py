"""The core's inbound side: accept a request (validate, record, wake the worker) and the task
verbs users have (status, cancel, retry, list). Handlers call this and return at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from bot import messages, pricing, refusals
from bot.access import AccessPolicy, named
from bot.checks import check_allowed, check_mode, check_prompt
from bot.confirm import Confirmations
from bot.domain import (
    LIVE_STATES,
    MediaRef,
    Mode,
    Profile,
    ReplyTarget,
    TaskState,
    VideoRequest,
    new_ref,
    new_task_id,
)
from bot.errors import (
    ActionRefused,
    CommandError,
    LedgerUnavailable,
    NotFound,
    QuotaExceeded,
)
from bot.ledger import Ledger, TaskQuery, UserLimits
from bot.policy import WorkerPolicy
from bot.price_book import PriceBook
from bot.pricing import PriceTable
from bot.reports import SpendReports
from bot.task import Task

log = logging.getLogger("videobot.service")

Clock = Callable[[], datetime]


class VideoService:
    def __init__(
        self,
        ledger: Ledger,
        policy: WorkerPolicy,
        clock: Clock,
        wake: Callable[[], None],
        access: AccessPolicy | None = None,
        profile: Profile | None = None,
        provider: str = "",
        prices: PriceTable | PriceBook | None = None,
        confirm_above: int | None = None,
    ) -> None:
        """Each task records `provider` (bot/providers.py) and its estimate from `prices` (a
        fixed table, or the book that follows the ledger's)."""
        self._ledger, self._provider = ledger, provider
        self._book = prices if isinstance(prices, PriceBook) else PriceBook(prices or PriceTable())
        self._policy = policy
        self._clock = clock
        self._wake = wake
        self._access = access or AccessPolicy()
        self._profile = profile or Profile()
        self.reports = SpendReports(ledger, clock, self._access)  # `/video usage`
        self.confirmations = Confirmations(clock, confirm_above, ledger)  # Confirm / Cancel

    async def accept(
        self,
        request: VideoRequest,
        target: ReplyTarget,
        idem_key: str,
        retry_of: str | None = None,
        confirmed: str | None = None,
    ) -> tuple[Task, bool]:
        """Record a request durably and wake the worker. Returns (task, created); a repeated
        idem_key (platform retry, double click) returns the first task and created=False.
        Raises ConfirmationNeeded, recording nothing, when the estimate is above the
        confirmation threshold and the request was not `confirmed` (the held request's ref,
        which its task then bears, so a late Confirm or Cancel still finds it)."""
        now = self._clock()
        self.check_access(target)
        await self._book.fresh()  # a price changed in the ledger applies within its re-read
        # Every request passes the prompt checks here, whichever path built it (an edit
        # instruction from a modal included), so nothing unchecked becomes a paid task.
        edit = request.mode is Mode.EDIT
        prompt = check_prompt(request.prompt, self._profile.prompt_max_chars, edit)
        if prompt != request.prompt:
            request = replace(request, prompt=prompt)
        check_allowed(request, self._profile)  # a Retry of a task the profile no longer allows
        task = Task(
            task_id=new_task_id(),
            ref=confirmed or new_ref(),
            idem_key=idem_key,
            request=request,
            target=target,
            state=TaskState.ACCEPTED,
            created_at=now,
            updated_at=now,
            deadline_at=now + self._policy.task_deadline,
            next_check_at=now,
            retry_of=retry_of,
            provider=self._provider,
            estimate=self.estimate(request),
            unit=self._book.table.unit,
        )
        if not confirmed and self.confirmations.needed(task.estimate):
            # The same command again after its Confirm (a platform retry, a replay) finds
            # the task it made instead of asking again.
            if made := await self._ledger.find(TaskQuery(idem_key=idem_key, limit=1)):
                return made[0], False
            raise await self.confirmations.ask(task)
        try:
            stored, created = await self._ledger.add(task, self._limits(task, now))
        except QuotaExceeded as err:
            raise refusals.restated(err, task, now, (self._book.table, self._profile)) from None
        except LedgerUnavailable as err:
            log.warning("a request from %s could not be recorded: %s", target.user_key, err)
            raise LedgerUnavailable(messages.NOT_RECORDED) from None
        if created:
            what = (request.mode.value, request.aspect_ratio, request.duration, target.user_key)
            log.info("task %s accepted: %s %s %ss from %s", stored.ref, *what)
            self._wake()
        return stored, created

    async def confirm(self, ref: str, by: ReplyTarget) -> tuple[Task, bool]:
        """Record the request held as `ref`; a later Confirm, however late, finds its task
        (created=False). Raises ActionRefused when it was never confirmed and expired."""
        if made := await self.confirmations.made(ref, by):
            return made, False
        held = await self.confirmations.take(ref, by)
        args = (held.request, held.target, held.idem_key, held.retry_of)
        return await self.accept(*args, confirmed=held.ref)

    async def dismiss(self, ref: str, by: ReplyTarget) -> None:
        """The held request's Cancel (see Confirmations.dismiss)."""
        await self.confirmations.dismiss(ref, by)

    def check_access(self, who: ReplyTarget) -> None:
        """Raise ActionRefused if `who` may not ask here. Adapters call it before downloading
        attachments, so a refused request costs nothing; accept() checks again."""
        access = self._access
        if access.is_admin(who):
            return
        if access.allowed_users and not named(who.user_id, who.platform, access.allowed_users):
            raise ActionRefused(messages.USER_NOT_ALLOWED)
        spaces = access.allowed_workspaces
        if spaces and not named(who.workspace_id, who.platform, spaces):
            raise ActionRefused(messages.WORKSPACE_NOT_ALLOWED)
        channels = access.allowed_channels
        if channels and not named(who.channel_id, who.platform, channels):
            raise ActionRefused(messages.CHANNEL_NOT_ALLOWED)

    def estimate(self, request: VideoRequest) -> int | None:
        """The request's price in micro-units of the price table's unit (None: not priced)."""
        return pricing.estimate(request, self._book.table, self._profile.default_resolution)

    def _limits(self, task: Task, now: datetime) -> UserLimits | None:
        """Admins skip per-user caps; priced tasks meet budgets."""
        access = self._access
        admin, priced = access.is_admin(task.target), task.estimate is not None
        capped = access.daily_limit is not None or access.user_concurrency is not None
        if not priced and (admin or not capped):
            return None
        day_start, month_start = pricing.period_starts(now)
        return UserLimits(
            day_start,
            None if admin else access.daily_limit,
            None if admin else access.user_concurrency,
            month_start if priced else None,
            user_budgets=not admin,
        )

    async def status(self, ref: str) -> Task:
        task = await self._ledger.get(ref)
        if task is None:
            raise NotFound(messages.NOT_FOUND.format(ref=ref))
        return task

    async def cancel(self, ref: str, by: ReplyTarget) -> Task:
        for _ in range(5):
            task = await self._owned(ref, by)
            if task.state.is_terminal:
                raise ActionRefused(
                    messages.CANCEL_TOO_LATE.format(
                        ref=task.ref, state=messages.state_words(task.state)
                    )
                )
            if task.state in (TaskState.SUBMITTING, TaskState.DELIVERING):
                what = "sent" if task.state is TaskState.SUBMITTING else "posted"
                raise ActionRefused(messages.CANCEL_BUSY.format(ref=task.ref, what=what))
            saved = await self._ledger.save(task, task.cancelled(self._clock()))
            if saved is not None:
                log.info("task %s cancelled by %s", task.ref, by.user_key)
                self._wake()
                return saved
        raise ActionRefused(messages.CANCEL_BUSY.format(ref=ref, what="updated"))

    async def retry(
        self,
        ref: str,
        by: ReplyTarget,
        idem_key: str,
        aspect_ratio: str | None = None,
    ) -> tuple[Task, bool]:
        """Run an ended task again as a new task (a new, separately billed video)."""
        task = await self._owned(ref, by)
        if task.state.is_live:
            raise ActionRefused(messages.RETRY_LIVE.format(ref=task.ref))
        if await asyncio.to_thread(_media_gone, task.request):
            raise ActionRefused(messages.MEDIA_GONE.format(ref=task.ref))
        # Staged URLs may have expired since; the worker stages the files again.
        media = tuple(replace(m, url=None) if m.path else m for m in task.request.media)
        request = task.request.with_media(media)
        if aspect_ratio:
            request = replace(request, aspect_ratio=aspect_ratio)
        return await self.accept(request, _reply_to(task, by), idem_key, retry_of=task.ref)

    async def edit(
        self, ref: str, instruction: str, by: ReplyTarget, idem_key: str
    ) -> tuple[Task, bool]:
        """Video edit of a delivered result. Providers that keep their results (Google's
        previous_interaction_id) continue from `previous`, the provider's id of that task, so
        nothing is uploaded again; the others are fed the clip by its (still valid) URL."""
        task = await self._owned(ref, by, anyone=True)
        if task.state is not TaskState.DELIVERED or not task.result_url:
            raise ActionRefused(f"Task {task.ref} has no finished video to edit.")
        try:
            check_mode(Mode.EDIT, self._profile)
        except CommandError as err:
            raise ActionRefused(str(err)) from None
        clip = MediaRef(
            kind="video", path="", sha256="", mime="video/mp4", size=0, url=task.result_url
        )
        request = VideoRequest(
            prompt=instruction,
            mode=Mode.EDIT,
            aspect_ratio=task.request.aspect_ratio,
            duration=task.request.duration,
            video=clip,
            resolution=task.request.resolution,  # the edit looks like what it edits
            previous=task.provider_task_id,
        )
        return await self.accept(request, _reply_to(task, by), idem_key, retry_of=task.ref)

    async def recent(self, user: ReplyTarget, limit: int = 10) -> list[Task]:
        return await self._ledger.find(TaskQuery(user_key=user.user_key, limit=limit))

    async def unfinished(self, user: ReplyTarget) -> list[Task]:
        """The user's tasks that have not ended (the console resumes them after a restart)."""
        query = TaskQuery(states=LIVE_STATES, user_key=user.user_key, limit=1000)
        return await self._ledger.find(query)

    async def end_workspace(
        self, platform: str, workspace_id: str | None, enterprise_id: str | None = None
    ) -> list[Task]:
        """Cancel every live task of a workspace (with no workspace: of an Enterprise Grid
        organization) that removed the bot, since nothing can be shown there any more.
        Returns the tasks ended; safe to repeat."""
        ended: list[Task] = []
        for task in await self._ledger.find(TaskQuery(states=LIVE_STATES, limit=100_000)):
            where = task.target
            ours = (where.workspace_id == workspace_id) if workspace_id else (
                enterprise_id is not None and where.enterprise_id == enterprise_id
            )
            current: Task | None = task if where.platform == platform and ours else None
            for _ in range(3):  # the worker may move the row meanwhile: cancel where it is now
                if current is None or current.state.is_terminal:
                    break
                if saved := await self._ledger.save(current, current.cancelled(self._clock())):
                    ended.append(saved)
                    break
                current = await self._ledger.get(current.task_id)
        if ended:
            self._wake()
        return ended

    async def _owned(self, ref: str, by: ReplyTarget, anyone: bool = False) -> Task:
        task = await self.status(ref)
        if anyone or task.target.user_key == by.user_key or self._access.is_admin(by):
            return task
        raise ActionRefused(messages.NOT_YOURS.format(ref=task.ref))


def _media_gone(request: VideoRequest) -> bool:
    """Media retention deleted a file this request was made with."""
    return any(m.path and not Path(m.path).is_file() for m in request.media)


def _reply_to(task: Task, by: ReplyTarget) -> ReplyTarget:
    """A retry answers in the original's channel and thread, on behalf of whoever asked."""
    return replace(task.target, user_id=by.user_id, user_name=by.user_name)
