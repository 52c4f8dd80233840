"""Discord's global REST budget: 50 requests per second per bot token, whatever the route.
Every request of a Discord client spends from a `RestBudget` before it is sent (an aiohttp
trace hook, so discord.py's own routing and 429 handling stay as they are). `TokenBucket`
holds one process's share; a database-backed budget can share one bucket across processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Protocol

import aiohttp

# Interaction answers are not counted against the global limit (Discord's rate-limit docs):
# they never wait behind the worker's uploads.
_EXEMPT = ("/interactions/", "/webhooks/")


class RestBudget(Protocol):
    async def spend(self) -> None:
        """Wait until one more request fits the budget, and count it. Cancellable; a cancelled
        wait spends nothing."""
        ...


class TokenBucket:
    """`rate` requests per second, up to one second's worth at once; callers are served in the
    order they came."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be above zero")
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._at = clock()
        self._turn = asyncio.Lock()

    async def spend(self) -> None:
        async with self._turn:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now


def spending(budget: RestBudget) -> aiohttp.TraceConfig:
    """The trace config (discord.py's `http_trace`) that makes every REST request of a client
    spend from `budget` before it goes out."""

    async def before(
        _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        if params.url.scheme in ("http", "https") and not any(
            part in params.url.path for part in _EXEMPT
        ):
            await budget.spend()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(before)
    return trace
