"""A small aiohttp server on a port of its own: bound before anything is served (a taken port
stops the start with the setting to change), served until stop, closed after. The callback
endpoint uses it (VIDEOBOT_CALLBACK_PORT), and so does the metrics server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiohttp import web


class RouteServer:
    def __init__(
        self,
        routes: Sequence[web.RouteDef],
        host: str,
        port: int,
        *,
        name: str,
        setting: str,
        paths: str,
    ) -> None:
        """`name` and `paths` say what it serves in the log; `setting` names the port's
        variable in the refusal when the port is taken."""
        self._routes = list(routes)
        self._host = host
        self._requested_port = port
        self._name, self._setting, self._paths = name, setting, paths
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
                f"cannot serve {self._name} on {self._host}:{self._requested_port} "
                f"({err.strerror}); free the port or change {self._setting}"
            ) from None
        sockets = getattr(site._server, "sockets", None) or []  # the bound port lives only here
        self.port = sockets[0].getsockname()[1] if sockets else self._requested_port
        logging.getLogger(f"videobot.{self._name}").info(
            "%s: listening on %s (%s)", self._name, self.url, self._paths
        )

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (one task in the composition root's TaskGroup); binds
        first unless `start()` already did."""
        if self._runner is None:
            await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()


class CallbackServer(RouteServer):
    """The callback endpoint on a port of its own, for when metrics are off or must stay
    private; otherwise its routes join the metrics server's."""

    def __init__(self, routes: Sequence[web.RouteDef], host: str, port: int) -> None:
        super().__init__(
            routes,
            host,
            port,
            name="callbacks",
            setting="VIDEOBOT_CALLBACK_PORT",
            paths="/callbacks/...",
        )
