"""Requests that cost more than the confirmation threshold (VIDEOBOT_CONFIRM_ABOVE) are held
here, in memory, until their requester confirms: nothing is recorded, reserved or sent before.
A held request keeps the idem_key it came with, so a second Confirm (a double click, a retried
interaction) finds the task the first one made; an unconfirmed request expires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain import ReplyTarget, VideoRequest, new_ref
from bot.errors import ActionRefused, ConfirmationNeeded
from bot.pricing import money
from bot.spending import approximately

if TYPE_CHECKING:
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
        recorded: Callable[[str], Awaitable[Task | None]],
        ttl: timedelta = TTL,
    ) -> None:
        """`threshold`: micro-units above which an estimate needs a confirmation (None: never);
        `recorded`: the ledger's task by ref (a confirmed request's task bears its ref)."""
        self._clock = clock
        self._recorded = recorded
        self._threshold = threshold
        self._ttl = ttl
        self._held: dict[str, Held] = {}
        self._by_key: dict[str, str] = {}
        self._confirmed: set[str] = set()

    def needed(self, estimate: int | None) -> bool:
        return self._threshold is not None and estimate is not None and estimate > self._threshold

    def ask(self, task: Task) -> ConfirmationNeeded:
        """Hold the request `task` would record and return the question to raise (a platform's
        retry of the same command asks about the same held request)."""
        self._expire()
        target, amount, unit = task.target, task.estimate or 0, task.unit
        ref = self._by_key.get(task.idem_key)
        if ref is None:
            ref = new_ref()
            expires = self._clock() + self._ttl
            held = Held(ref, task.request, target, task.idem_key, task.retry_of, expires)
            self._held[ref] = held
            self._by_key[task.idem_key] = ref
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

    def take(self, ref: str, by: ReplyTarget) -> Held:
        """The held request `ref` for its requester to record. It stays held until it expires,
        so a second Confirm records nothing new. Raises ActionRefused."""
        held = self._mine(ref, by)
        self._confirmed.add(held.ref)
        return held

    def drop(self, ref: str, by: ReplyTarget) -> None:
        """Forget the held request `ref` (its Cancel button). Raises ActionRefused, also when
        it was confirmed already (its task is cancelled on its own status message)."""
        held = self._mine(ref, by)
        if held.ref in self._confirmed:
            raise ActionRefused(CONFIRMED_BEFORE.format(ref=held.ref))
        self._forget(held)

    def holds(self, ref: str) -> bool:
        """A request `ref` is waiting for its Confirm."""
        self._expire()
        return ref.strip().upper() in self._held

    async def made(self, ref: str, by: ReplyTarget) -> Task | None:
        """The task the confirmed request `ref` became, for its requester, long after it stopped
        being held (expired, or the bot restarted); None when it was never confirmed."""
        ref = ref.strip().upper()
        task = await self._recorded(ref) if ref else None
        return task if task is not None and task.target.user_key == by.user_key else None

    async def dismiss(self, ref: str, by: ReplyTarget) -> None:
        """Cancel on the question: forget the held request. Raises ActionRefused once it was
        confirmed (its task is stopped from its status message) or when it expired."""
        if made := await self.made(ref, by):
            raise ActionRefused(CONFIRMED_BEFORE.format(ref=made.ref))
        self.drop(ref, by)

    def _mine(self, ref: str, by: ReplyTarget) -> Held:
        self._expire()
        held = self._held.get(ref.strip().upper())
        if held is None:
            raise ActionRefused(EXPIRED.format(minutes=int(self._ttl.total_seconds() // 60)))
        if held.target.user_key != by.user_key:
            raise ActionRefused(NOT_YOURS)
        return held

    def _forget(self, held: Held) -> None:
        self._held.pop(held.ref, None)
        self._by_key.pop(held.idem_key, None)
        self._confirmed.discard(held.ref)

    def _expire(self) -> None:
        now = self._clock()
        for held in [h for h in self._held.values() if h.expires_at <= now]:
            self._forget(held)
