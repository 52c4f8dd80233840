"""The callback endpoint on a port of its own (VIDEOBOT_CALLBACK_PORT), for when metrics are
off or must stay private; otherwise its routes join the metrics server's."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger("videobot.callback")


class CallbackServer:
    def __init__(self, routes: list[web.RouteDef], host: str, port: int) -> None:
        self._routes = routes
        self._host = host
        self._requested_port = port
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port, once started (port 0 picks one)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self._routes)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        try:
            await site.start()
        except OSError as err:
            await self.close()
            raise SystemExit(
                f"cannot serve callbacks on {self._host}:{self._requested_port} "
                f"({err.strerror}); free the port or change VIDEOBOT_CALLBACK_PORT"
            ) from None
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._requested_port
        log.info("callbacks: listening on %s (/callbacks/...)", self.url)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set; binds first unless `start()` already did."""
        if self._runner is None:
            await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()
