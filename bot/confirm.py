"""Requests that cost more than the confirmation threshold (VIDEOBOT_CONFIRM_ABOVE) are held
here, in memory, until their requester confirms: nothing is recorded, reserved or sent before.
A held request keeps the idem_key it came with, so a second Confirm (a double click, a retried
interaction) finds the task the first one made; an unconfirmed request expires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain import ReplyTarget, VideoRequest, new_ref
from bot.errors import ActionRefused, ConfirmationNeeded
from bot.pricing import money
from bot.spending import approximately

if TYPE_CHECKING:
    from bot.ledger import Ledger
    from bot.task import Task

TTL = timedelta(minutes=10)
EXPIRED = (
    "That request is no longer waiting for a confirmation (it was not confirmed within "
    "{minutes} minutes, or the bot restarted), so nothing was made or charged. Send it again."
)
NOT_YOURS = "Only the person who asked for that video can confirm or cancel it."
DISMISSED = "Cancelled: nothing was sent or charged."
CONFIRMED_BEFORE = (
    "That request was confirmed already and is task {ref}; to stop it, use the Cancel button "
    "of its status message."
)


@dataclass(frozen=True, slots=True)
class Held:
    """A request waiting for its requester's Confirm."""

    ref: str
    request: VideoRequest
    target: ReplyTarget
    idem_key: str
    retry_of: str | None
    expires_at: datetime


class Confirmations:
    def __init__(
        self,
        clock: Callable[[], datetime],
        threshold: int | None,
        ledger: Ledger,
        ttl: timedelta = TTL,
    ) -> None:
        """`threshold`: micro-units above which an estimate needs a confirmation (None: never).
        Held requests live in the ledger, so a Confirm answered by another process (a replica
        behind a load balancer) or after a restart finds them; a confirmed request's task
        bears its ref."""
        self._clock = clock
        self._ledger = ledger
        self._threshold = threshold
        self._ttl = ttl

    def needed(self, estimate: int | None) -> bool:
        return self._threshold is not None and estimate is not None and estimate > self._threshold

    async def ask(self, task: Task) -> ConfirmationNeeded:
        """Hold the request `task` would record and return the question to raise (a platform's
        retry of the same command asks about the same held request)."""
        now = self._clock()
        ref = await self._ledger.hold(new_ref(), task, now + self._ttl, now)
        target, amount, unit = task.target, task.estimate or 0, task.unit
        threshold = money(self._threshold or 0, unit)
        minutes = int(self._ttl.total_seconds() // 60)
        how = (
            f"Type `confirm {ref}` within {minutes} minutes to make it"
            if target.platform == "console"
            else f"Press Confirm within {minutes} minutes to make it, or Cancel"
        )
        return ConfirmationNeeded(
            f"This video would cost {approximately(amount, unit)}; anything above {threshold} "
            f"needs a confirmation here. {how}; nothing is sent or charged until you confirm.",
            ref,
        )

    async def take(self, ref: str, by: ReplyTarget) -> Held:
        """The held request `ref` for its requester to record. It stays held until it expires,
        so a second Confirm records nothing new (its task bears the ref). Raises
        ActionRefused."""
        return await self._mine(ref, by)

    async def holds(self, ref: str) -> bool:
        """A request `ref` is waiting for its Confirm."""
        return await self._ledger.held(ref.strip().upper(), self._clock()) is not None

    async def made(self, ref: str, by: ReplyTarget) -> Task | None:
        """The task the confirmed request `ref` became, for its requester, long after it stopped
        being held (expired, or the bot restarted); None when it was never confirmed."""
        ref = ref.strip().upper()
        task = await self._ledger.get(ref) if ref else None
        return task if task is not None and task.target.user_key == by.user_key else None

    async def dismiss(self, ref: str, by: ReplyTarget) -> None:
        """Cancel on the question: forget the held request. Raises ActionRefused once it was
        confirmed (its task is stopped from its status message) or when it expired."""
        if made := await self.made(ref, by):
            raise ActionRefused(CONFIRMED_BEFORE.format(ref=made.ref))
        held = await self._mine(ref, by)
        await self._ledger.unhold(held.ref)

    async def _mine(self, ref: str, by: ReplyTarget) -> Held:
        found = await self._ledger.held(ref.strip().upper(), self._clock())
        if found is None:
            raise ActionRefused(EXPIRED.format(minutes=int(self._ttl.total_seconds() // 60)))
        task, expires_at = found
        if task.target.user_key != by.user_key:
            raise ActionRefused(NOT_YOURS)
        return Held(
            ref.strip().upper(),
            task.request,
            task.target,
            task.idem_key,
            task.retry_of,
            expires_at,
        )
