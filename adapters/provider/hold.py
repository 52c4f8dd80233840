"""The client-wide 429 hold: a rate limit on any request holds back every request the client
makes for its Retry-After. A short hold is waited out in place; a longer one raises RateLimited
before anything is sent, so callers reschedule instead of sitting in it (a stopping process
must not wait for one). Also the jittered back-off between transient retries."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from adapters.provider.answer import MAX_RETRY_AFTER
from bot.errors import RateLimited

log = logging.getLogger("videobot.provider")


class RateHold:
    def __init__(
        self, retry_base: float, rng: random.Random, monotonic: Callable[[], float]
    ) -> None:
        """`monotonic` times the hold (a test's fake clock may stand in for the real one)."""
        self._retry_base = retry_base
        self._rng = rng
        self._monotonic = monotonic
        self._until = monotonic()  # the time before which no request leaves
        self.rate_limited = 0

    def held_for(self) -> timedelta:
        """How much longer the hold lasts (zero: requests may leave now)."""
        return timedelta(seconds=max(0.0, self._until - self._monotonic()))

    def slow_down(self, err: RateLimited, attempt: int) -> None:
        """A 429 holds back every request this client makes, not just the one that got it."""
        self.rate_limited += 1
        wait = self._rate_backoff(attempt)
        if err.retry_after is not None:
            wait = max(wait, err.retry_after.total_seconds())
        wait = min(wait, MAX_RETRY_AFTER)
        self._until = max(self._until, self._monotonic() + wait)
        log.warning("video API rate limit (429): holding requests for %.1fs", wait)

    async def gate(self, patience: float) -> None:
        """Wait out a hold of at most `patience` seconds (cancellable at any moment); a longer
        one raises RateLimited before anything is sent, carrying what is left of it."""
        until = self._until
        while (delay := until - self._monotonic()) > 0:
            if delay > patience:
                raise RateLimited(
                    "the video service asked us to slow down; trying again later",
                    retry_after=timedelta(seconds=delay),
                    code="rate_limit_exceeded",
                )
            await asyncio.sleep(delay)
            # Look again only if a 429 that came meanwhile pushed the hold out: the clock that
            # times the hold need not be the one asyncio sleeps on.
            if self._until <= until:
                return
            until = self._until

    def backoff(self, attempt: int) -> float:
        """Transient retries: exponential with full jitter, `uniform(0, min(cap, base * 2**n))`
        (RELIABILITY.md), so many clients failing together do not retry in step."""
        ceiling: float = min(self._retry_base * 2**attempt, 8.0)
        return self._rng.uniform(0, ceiling)

    def _rate_backoff(self, attempt: int) -> float:
        """A 429 without Retry-After: 1x/2x/4x the base with up to 25% jitter taken off, never
        close to zero (retrying a rate limit at once only earns another 429)."""
        ceiling: float = min(self._retry_base * 2**attempt, 8.0)
        return ceiling * (1 - 0.25 * self._rng.random())
