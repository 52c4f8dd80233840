"""Timing policy as pure functions: when to poll next, how long to back off. No I/O, no clock."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import timedelta

from bot.domain import Mode
from bot.price_book import PriceBook
from bot.pricing import PriceTable


@dataclass(frozen=True, slots=True)
class WorkerPolicy:
    concurrency: int = 64  # steps at once; the provider client pools 64 connections
    provider_concurrency: int | None = None  # renders in flight at the provider, all users
    task_deadline: timedelta = timedelta(hours=1)
    first_poll: timedelta = timedelta(seconds=5)
    poll_floor: timedelta = timedelta(seconds=1)
    poll_ceiling: timedelta = timedelta(seconds=15)
    # How far ahead a confident prediction may put the next poll (beyond the plain ceiling).
    predicted_ceiling: timedelta = timedelta(seconds=45)
    status_interval: timedelta = timedelta(seconds=3)
    max_video_bytes: int = 200 * 1024 * 1024
    delivery_attempts: int = 5
    lost_after_not_found: int = 4
    retry_cap: timedelta = timedelta(minutes=2)
    # After stop, how long in-flight steps may finish before they are cancelled.
    stop_grace: timedelta = timedelta(seconds=3)
    # Commands first: while they arrive less than `intake_quiet` apart, new background steps
    # wait (at most `intake_hold_max`, then run unheld as long again). 0 turns it off.
    intake_quiet: timedelta = timedelta(milliseconds=20)
    intake_hold_max: timedelta = timedelta(seconds=1)
    # With provider callbacks on, a callback makes a task due the moment it ends, so polls are
    # only the safety net for a callback that never comes: every this long. None: no callbacks,
    # polls aim at the predicted finish.
    callback_poll: timedelta | None = None
    # What renders cost: a provider's reported usage is turned into money with these.
    prices: PriceTable = field(default_factory=PriceTable)
    # The ledger's prices (bot/price_book.py) when they are kept there: they win over `prices`.
    price_book: PriceBook | None = None
    default_resolution: str = "720p"
    # A claim holds its row this long; a step running longer renews it every third of it. A
    # holder that vanishes (killed, paused, cut off) lets the row fall due once it lapses.
    lease: timedelta = timedelta(seconds=60)

    def first_check(self) -> timedelta:
        """How long after a submit the first poll is due."""
        return self.callback_poll or self.first_poll


def backoff(attempt: int, base: timedelta, cap: timedelta, rng: random.Random) -> timedelta:
    """Full jitter: uniform(0, min(cap, base * 2**attempt)). Spreads a herd of retries."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** min(attempt, 30))
    return timedelta(seconds=rng.uniform(0, ceiling))


@dataclass(slots=True)
class IntakeGate:
    """Answering commands comes before background steps (submits, polls, uploads): they share
    one event loop, and a worker catching up on a thousand fresh tasks would otherwise slow
    every acknowledgement in the burst that brought them. While commands keep arriving, the
    worker holds back new steps; after `hold_max` it runs unheld for as long again, so a steady
    stream halves the worker's time at worst and never stops it. Times are monotonic seconds."""

    quiet: float
    hold_max: float
    _last: float = -math.inf
    _held_since: float | None = None
    _unheld_until: float = -math.inf

    def arrived(self, now: float) -> None:
        self._last = now

    def hold(self, now: float) -> float:
        """Seconds to wait before starting new steps; 0 means go now."""
        if self.quiet <= 0 or now < self._unheld_until or now - self._last >= self.quiet:
            self._held_since = None
            return 0.0
        if self._held_since is None:
            self._held_since = now
        if now - self._held_since >= self.hold_max:
            self._held_since = None
            self._unheld_until = now + self.hold_max
            return 0.0
        return min(self._last + self.quiet, self._held_since + self.hold_max) - now


@dataclass(slots=True)
class RenderHistory:
    """Recent render times per (mode, duration): an exponentially weighted mean."""

    alpha: float = 0.3
    _mean: dict[tuple[Mode, int], float] = field(default_factory=dict)

    def record(self, mode: Mode, duration: int, took: timedelta) -> None:
        key = (mode, duration)
        seconds = took.total_seconds()
        old = self._mean.get(key)
        self._mean[key] = seconds if old is None else old + self.alpha * (seconds - old)

    def expected(self, mode: Mode, duration: int) -> timedelta | None:
        seconds = self._mean.get((mode, duration))
        return None if seconds is None else timedelta(seconds=seconds)


def predicted_remaining(
    elapsed: timedelta, progress: int | None, expected: timedelta | None
) -> timedelta | None:
    """Time left, from the provider's progress (linear since submit) or else from how long
    renders of this kind took lately; None when there is nothing to predict from."""
    if progress is not None and 0 < progress < 100:
        return elapsed * (100 - progress) / progress
    if expected is not None:
        return expected - elapsed
    return None


def next_poll_delay(
    elapsed: timedelta,
    remaining: timedelta | None,
    overdue_polls: int,
    policy: WorkerPolicy,
) -> timedelta:
    """Poll near the predicted finish instead of on a fixed beat. Far from the finish, go 60 %
    of the way there (the prediction sharpens as progress comes in), up to predicted_ceiling;
    within _AIM of it, aim at it (never past predicted_ceiling, which the demo keeps short so its
    bars keep moving). Once the prediction has passed (`overdue_polls` polls found
    the task still running) the delay grows from the floor, so a stuck task costs a handful of
    requests, not one a second. Without a prediction, settle at poll_ceiling."""
    if remaining is None:
        return max(policy.poll_floor, min(policy.poll_ceiling, elapsed / 2))
    if remaining > _AIM:
        return min(policy.predicted_ceiling, max(_AIM, remaining * 0.6))
    if remaining > policy.poll_floor:
        return min(policy.predicted_ceiling, remaining)
    delay = policy.poll_floor * (1.6 ** min(overdue_polls, 10))
    return max(policy.poll_floor, min(policy.poll_ceiling, delay))


_AIM = timedelta(seconds=10)
