"""A callback receiver on loopback for simulator tests: records every POST (path, headers, raw
body) and answers with the statuses it is told to, in order (then 200)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    got: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def _handle(self, request: web.Request) -> web.Response:
        self.got.append(Received(request.path, dict(request.headers), await request.read()))
        self._arrived.set()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """The first `count` requests, waiting (bounded) for them to arrive."""
        async with asyncio.timeout(within):
            while len(self.got) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.got[:count]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", got._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    got.url = f"http://127.0.0.1:{port}"
    try:
        yield got
    finally:
        await runner.cleanup()
