"""The parts of a running process side by side: the worker and each platform adapter. One
adapter's failure logs one line and the adapter comes back with backoff while the rest keeps
serving; `Health` says which part is down. SIGTERM/SIGINT set the stop event, and a last-resort
deadline cancels whatever has not returned within its grace after that."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.ports import Chat

log = logging.getLogger("videobot")

#: Every part returns within a few seconds of stop; past this the rest is cancelled.
STOP_GRACE = 8.0
_BACKOFF_BASE = 1.0
_BACKOFF_CAP = 60.0


class PlatformRefused(Exception):  # noqa: N818  (a refusal, not a bug: the text is for the operator)
    """A platform refused our credentials, or its settings cannot work here (a port taken):
    retrying cannot help. The message is one plain sentence naming the setting to fix, and
    never holds a secret."""


class ChatAdapter(Protocol):
    """What `run` needs of a platform adapter: its Chat port, a serve loop that may be called
    again after it raised, and a final close."""

    @property
    def platform(self) -> str: ...

    @property
    def chat(self) -> Chat: ...

    @property
    def ready(self) -> asyncio.Event:
        """Set once the adapter has served (connected, or bound its port)."""
        ...

    async def check(self) -> None:
        """Ask the platform once whether it takes our credentials: PlatformRefused if not."""
        ...

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, returning within a few seconds of it whatever the
        network does; raise when the connection is lost (the supervisor serves again)."""
        ...

    async def aclose(self) -> None: ...


class Deliverer(Protocol):
    """What the worker role (`run --role worker`) needs of a platform: its Chat port, kept
    usable until `stop` (the platform's API only, taking no commands), then closed."""

    @property
    def platform(self) -> str: ...

    @property
    def chat(self) -> Chat: ...

    async def deliver_only(self, stop: asyncio.Event) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Health:
    """Which parts are down right now and why (one line each), for `/healthz`."""

    down: dict[str, str] = field(default_factory=dict)
    up: set[str] = field(default_factory=set)
    fatal: str | None = None  # a start-up refusal: the process stops and prints it

    def serving(self, part: str) -> None:
        self.down.pop(part, None)
        self.up.add(part)

    def failed(self, part: str, reason: str) -> None:
        self.up.discard(part)
        self.down[part] = reason


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def backoff_delay(failures: int, rng: random.Random) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**n)), at least a tenth of a second."""
    return max(0.1, rng.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**failures)))


async def supervise(
    adapter: ChatAdapter,
    stop: asyncio.Event,
    health: Health,
    rng: random.Random | None = None,
    delay_for: Callable[[int, random.Random], float] | None = None,
) -> None:
    """Serve `adapter` until stop. A PlatformRefused before the adapter ever served is a
    start-up error: it is kept in `health.fatal` and stops the whole process gracefully. Any
    other failure, or a refusal after it had served, is logged in one line and served again
    after a backoff."""
    rng = rng or random.Random()
    delay_for = delay_for or backoff_delay
    failures = 0
    served = False  # the adapter was up at least once: a refusal now is not a start-up error
    try:
        while not stop.is_set():
            adapter.ready.clear()
            watching = asyncio.create_task(_mark_up(adapter, health))
            try:
                await adapter.serve(stop)
            except PlatformRefused as err:
                if not (served or adapter.ready.is_set()):
                    health.fatal = health.fatal or str(err)
                    stop.set()
                    return
                reason = str(err)
            except Exception as err:  # the adapter's isolation boundary: the rest keeps serving
                reason = f"{type(err).__name__}: {err}"
            else:
                continue  # returned: only on stop
            finally:
                served = served or adapter.ready.is_set()
                watching.cancel()
            failures += 1
            delay = delay_for(failures, rng)
            health.failed(adapter.platform, reason)
            log.error("%s is down (%s); reconnecting in %.1fs", adapter.platform, reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    finally:
        await adapter.aclose()


async def _mark_up(adapter: ChatAdapter, health: Health) -> None:
    """The adapter counts as up once it is connected again, not when it starts trying."""
    await adapter.ready.wait()
    health.serving(adapter.platform)


async def serve_until_stopped(
    parts: list[Callable[[], Coroutine[Any, Any, None]]],
    stop: asyncio.Event,
    grace: float = STOP_GRACE,
) -> None:
    """Run every part in one TaskGroup; once `stop` is set, give them `grace` seconds to return,
    then cancel the rest (the last resort behind each part's own bounded stop)."""

    async def deadline() -> None:
        await stop.wait()
        await asyncio.sleep(grace)
        pending = [t for t in tasks if not t.done()]
        if pending:
            log.warning("%d part(s) did not stop within %.0fs; cancelling", len(pending), grace)
            for task in pending:
                task.cancel()

    tasks: list[asyncio.Task[None]] = []
    async with asyncio.TaskGroup() as group:
        tasks += [group.create_task(part()) for part in parts]
        watchdog = group.create_task(deadline())
        try:
            await asyncio.wait(tasks)
        finally:
            watchdog.cancel()


async def check_all(adapters: list[ChatAdapter], stop: asyncio.Event) -> None:
    """Every adapter's start-up check at once; returns early when `stop` is set. Raises the
    first PlatformRefused (after closing every adapter)."""
    checks: asyncio.Future[list[None]] = asyncio.gather(*(a.check() for a in adapters))
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    await asyncio.wait([checks, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not checks.done():
        checks.cancel()
        with contextlib.suppress(asyncio.CancelledError, PlatformRefused):
            await checks
        return
    try:
        checks.result()
    except PlatformRefused:
        for adapter in adapters:
            await adapter.aclose()
        raise
