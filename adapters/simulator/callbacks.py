"""The simulator calls back: when a task with a callback URL (a speaker took it from the
submit) or any task under a static `webhook_url` ends, POST a thin notice there, signed the way
that provider signs (signing.py). Delivered at least once: a failed POST is tried again with
backoff; knobs drop, duplicate or delay deliveries, so they can be lost or out of order."""

from __future__ import annotations

import asyncio
import heapq
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from adapters.simulator import signing
from adapters.simulator.state import SimTask

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

_JWT_DIALECTS = ("google", "vertex")  # per-request webhook_config: an RS256 JWT
_TIMEOUT = aiohttp.ClientTimeout(total=5)
_FIRST_RETRY = 0.25
_IDLE = 0.5  # re-read the (possibly fake) clock at least this often


def notice(task: SimTask, final: str) -> dict[str, Any]:
    """The thin body each provider posts: the task's id and how it ended."""
    ok = final == "completed"
    if task.dialect == "fal":
        return {
            "request_id": task.task_id,
            "gateway_request_id": task.task_id,
            "status": "OK" if ok else "ERROR",
            "payload": None,
        }
    if task.dialect == "evolink":
        return {"id": task.task_id, "object": "video.generation.task", "status": final}
    kind = "interaction" if task.dialect in _JWT_DIALECTS else "video"
    return {
        "type": f"{kind}.{'completed' if ok else 'failed'}",
        "version": "v1",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"id": task.task_id, "status": final},
    }


class CallbackSender:
    """Owned by a Simulator; runs while its aiohttp app runs (`context`). With a fake clock,
    `send_due()` delivers what is due at the simulator's time now."""

    def __init__(self, simulator: Simulator) -> None:
        self._sim = simulator
        self._due: list[tuple[float, int, str]] = []  # (ends at, order, task id)
        self._order = 0
        self._changed = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        simulator.tasks.on_new = self._changed.set

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/.well-known/jwks.json", self._jwks)]

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(signing.jwks())

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the sender lives exactly as long as the server."""
        self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        runner = asyncio.create_task(self._run())
        yield
        runner.cancel()
        for delivery in list(self._deliveries):
            delivery.cancel()
        await asyncio.gather(runner, *self._deliveries, return_exceptions=True)
        await self._session.close()

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            await self.send_due()
            wait = _IDLE
            if self._due:
                wait = min(_IDLE, max(0.0, self._due[0][0] - self._sim.clock()))
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except TimeoutError:
                pass

    async def settle(self) -> None:
        """Wait until every delivery under way has been answered or given up."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def send_due(self) -> int:
        """Start the delivery of every callback due now; returns how many started."""
        self._absorb()
        now, started = self._sim.clock(), 0
        while self._due and self._due[0][0] <= now:
            _, _, task_id = heapq.heappop(self._due)
            started += self._start(self._sim.tasks[task_id])
        return started

    def _absorb(self) -> None:
        fresh = self._sim.tasks.fresh
        while fresh:
            task = self._sim.tasks[fresh.popleft()]
            if (task.callback_url or self._sim.config.webhook_url) and task.ends_at is not None:
                self._order += 1
                heapq.heappush(self._due, (task.ends_at, self._order, task.task_id))

    def _start(self, task: SimTask) -> int:
        cfg, rng = self._sim.config, self._sim.rng
        final = task.status(max(self._sim.clock(), task.ends_at or 0.0))[0]
        targets = [url for url in (task.callback_url, cfg.webhook_url) if url]
        started = 0
        for url in targets:
            if rng.random() < cfg.callback_drop:
                continue  # lost on the way: only polling will tell
            copies = 2 if rng.random() < cfg.callback_duplicates else 1
            delivery_id = f"msg_{uuid.uuid4().hex}"
            static = url == cfg.webhook_url and url != task.callback_url
            for copy in range(copies):
                delay = rng.uniform(0, cfg.callback_jitter) + copy * rng.uniform(0, 1)
                job = self._deliver(task, final, url, static, delivery_id, delay)
                delivery = asyncio.create_task(job)
                self._deliveries.add(delivery)
                delivery.add_done_callback(self._deliveries.discard)
                started += 1
        return started

    async def _deliver(
        self, task: SimTask, final: str, url: str, static: bool, delivery_id: str, delay: float
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        body = json.dumps(notice(task, final), separators=(",", ":")).encode()
        stats = self._sim.stats
        for attempt in range(self._sim.config.callback_attempts):
            stats.callback_attempts += 1
            headers = self._signed(task, url, static, delivery_id, body)
            headers["Content-Type"] = "application/json"
            try:
                assert self._session is not None
                async with self._session.post(url, data=body, headers=headers) as answer:
                    if 200 <= answer.status < 300:
                        stats.callbacks_sent += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass  # the receiver is down or slow: try again
            if attempt + 1 < self._sim.config.callback_attempts:
                await asyncio.sleep(_FIRST_RETRY * 2**attempt)
        stats.callbacks_failed += 1

    def _signed(
        self, task: SimTask, url: str, static: bool, delivery_id: str, body: bytes
    ) -> dict[str, str]:
        """Signed afresh on every try (a new timestamp), the delivery id kept."""
        if static or task.dialect not in (*_JWT_DIALECTS, "fal", "evolink"):
            secret = self._sim.config.webhook_secret or signing.WEBHOOK_SECRET
            return signing.standard_headers(delivery_id, body, secret)
        if task.dialect == "fal":
            return signing.fal_headers(task.task_id, body)
        if task.dialect == "evolink":
            return {}  # evolink does not sign its callbacks
        return signing.google_jwt_headers(delivery_id, url, json.loads(body))
