"""The Slack adapter: a slack-bolt AsyncApp served through Socket Mode (SLACK_APP_TOKEN set, no
public URL needed) or HTTP (signed requests on /slack/events; with SLACK_CLIENT_ID, also the
OAuth install on /slack/install), its listeners, and SlackChat for the worker. SLACK_API_URL
points every Web API call (and the trusted file host) at another Slack, e.g. a local fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.intake import MediaIntake
from adapters.slack import blocks, installed
from adapters.slack.chat import EditAllowance, SlackChat
from adapters.slack.errors import refusal
from adapters.slack.files import SLACK_FILE_ORIGIN, SlackFiles, origin
from adapters.slack.handlers import SlackHandlers
from adapters.slack.install import INSTALL_PATH, REDIRECT_PATH, Distribution
from adapters.slack.target import PLATFORM, utc_now
from adapters.slack.tokens import StaticToken
from adapters.slack.uninstall import Uninstalls
from bot.config import Settings
from bot.service import VideoService
from bot.supervisor import PlatformRefused

log = logging.getLogger("videobot.slack")

EVENTS_PATH = "/slack/events"
SOCKET_MODE_DISTRIBUTED = (
    "Slack does not let an app that other workspaces install use Socket Mode: unset "
    "SLACK_APP_TOKEN and serve HTTP (SLACK_SIGNING_SECRET, SLACK_PORT), or unset "
    "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to serve one workspace with SLACK_BOT_TOKEN."
)
_DRAIN_SECONDS = 10.0
_DOWNLOAD_TIMEOUT = 60.0
_CLOSE_SECONDS = 3.0
_CHECK_SECONDS = 10.0
# auth.test / apps.connections.open errors that no retry can fix: the token itself is wrong.


def register_listeners(app: AsyncApp, handlers: SlackHandlers) -> None:
    """Every trigger videobot answers; slack-manifest.yml declares the same set."""
    app.command("/video")(handlers.command)
    buttons = "cancel|retry|flip|edit|confirm|dismiss"
    app.action(re.compile(f"^{blocks.ACTION_PREFIX}({buttons})$"))(handlers.button)
    app.shortcut(blocks.ANIMATE_SHORTCUT)(handlers.shortcut)
    for callback_id in (blocks.CREATE_VIEW, blocks.ANIMATE_VIEW, blocks.EDIT_VIEW):
        app.view(callback_id)(handlers.submitted)
    app.event("app_mention")(handlers.mention)
    app.event("message")(handlers.message)


class SlackAdapter:
    """What `videobot run` serves for Slack: `chat` for the worker, `serve()` for triggers."""

    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        service: VideoService,
        intake: MediaIntake,
        *,
        host: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        budget: EditAllowance | None = None,
        database: str | Path | None = None,
    ) -> None:
        """`database`: where installations live when any workspace may install the app
        (a SQLite file or a database URL); the ledger's file unless told."""
        oauth = settings.slack_oauth
        if not oauth and settings.slack_bot_token is None:
            raise SystemExit(
                "SLACK_BOT_TOKEN is required for the Slack adapter (or SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET, to let any workspace install it)."
            )
        self._app_token = settings.slack_app_token
        if oauth and self._app_token is not None:
            raise SystemExit(SOCKET_MODE_DISTRIBUTED)
        secret = settings.slack_signing_secret
        if self._app_token is None and secret is None:
            raise SystemExit(
                "Slack HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket "
                "Mode): unsigned requests are never accepted."
            )
        token = None
        if settings.slack_bot_token is not None and not oauth:
            token = settings.slack_bot_token.get_secret_value()
        elif settings.slack_bot_token is not None:
            log.warning(
                "slack: SLACK_BOT_TOKEN is not used: with SLACK_CLIENT_ID set every workspace's "
                "token comes from its install; install yours at %s too",
                INSTALL_PATH,
            )
        base_url = settings.slack_api_url or AsyncWebClient.BASE_URL
        self.client = AsyncWebClient(token=token, base_url=base_url)
        self.distribution: Distribution | None = None
        if oauth:
            # Installations beside the ledger's tasks; every call carries its workspace's token.
            self.distribution = Distribution.create(
                settings, self.client, database or settings.ledger_path
            )
        static = StaticToken(token) if token is not None else None
        tokens = self.distribution.tokens if self.distribution is not None else static
        self.chat = SlackChat(self.client, budget, tokens)
        # Bolt verifies every HTTP request with the secret; Socket Mode requests come over an
        # authenticated websocket and are not signed.
        self.app = AsyncApp(
            client=self.client,
            signing_secret=secret.get_secret_value() if secret else "",
            request_verification_enabled=secret is not None,
            oauth_settings=self.distribution.settings if self.distribution else None,
        )
        self.app.middleware(installed.remember)
        origins = {SLACK_FILE_ORIGIN}
        if settings.slack_api_url:
            origins.add(origin(settings.slack_api_url))
        # Private files come through the one SSRF-safe fetcher, limited to Slack's file host.
        hosts = tuple(urlsplit(o).hostname or "" for o in origins)
        self._fetcher = SafeFetcher(
            FetchPolicy(
                hosts={"slack": hosts},
                allow_loopback=settings.fetch_allow_loopback,
                read_timeout=_DOWNLOAD_TIMEOUT,
            )
        )
        files = SlackFiles(self.client, token, intake, self._fetcher, origins)
        self.handlers = SlackHandlers(service, files, settings.profile(), clock)
        register_listeners(self.app, self.handlers)
        Uninstalls(self.app, service, PLATFORM, static.revoke if static else None).register()
        self._host = host or settings.slack_host
        self._port = settings.slack_port
        self.port: int | None = None  # the bound HTTP port, once serving
        self.ready = asyncio.Event()
        self._socket_url: str | None = None  # from check(), for the first connect
        self._runner: web.AppRunner | None = None  # bound by check(), for the first serve
        self._prepared = False  # the installation stores' tables

    async def serve(self, stop: asyncio.Event) -> None:
        """Take triggers until `stop` is set, then close every connection we opened; returns
        within a few seconds of `stop` whatever Slack is doing. Raises PlatformRefused when
        Slack refuses a token, and what the network raised when Slack cannot be reached."""
        try:
            await self._prepare()
            if self._app_token is not None:
                await self._serve_socket_mode(stop, self._app_token.get_secret_value())
            else:
                await self._serve_http(stop)
        finally:
            if stop.is_set():
                await self.handlers.drain(_DRAIN_SECONDS)
                await self.aclose()

    async def deliver_only(self, stop: asyncio.Event) -> None:
        """The worker role: the Web API client needs no connection of its own."""
        self.ready.set()
        try:
            await stop.wait()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._runner is not None:  # checked, never served
            await self._runner.cleanup()
            self._runner = None
        await self.chat.close()
        await self._fetcher.aclose()
        if self.distribution is not None:
            await self.distribution.stores.close()

    async def _prepare(self) -> None:
        if self.distribution is not None and not self._prepared:
            await self.distribution.stores.prepare()
            self._prepared = True

    async def check(self) -> None:
        """Ask Slack once, at start, whether it takes our tokens: PlatformRefused naming the
        token if not. Anything else (Slack unreachable) is left for serve() to retry."""
        await self._prepare()
        with contextlib.suppress(SlackApiError, OSError, aiohttp.ClientError, TimeoutError):
            async with asyncio.timeout(_CHECK_SECONDS):
                if self.distribution is None:  # installs bring their own tokens, checked then
                    await self._check_bot_token()
                if self._app_token is not None:
                    url = await self._open_socket_url(self._app_token.get_secret_value())
                    self._socket_url = url
        if self._app_token is None and self._runner is None:
            self._runner = await self._bind()  # bound now, so a taken port stops the start

    async def _check_bot_token(self) -> None:
        try:
            await self.client.auth_test()
        except SlackApiError as err:
            if (why := refusal(err)) is not None:
                raise PlatformRefused(
                    f"Slack refused SLACK_BOT_TOKEN ({why}): reinstall the app and set "
                    "SLACK_BOT_TOKEN to its Bot User OAuth Token (xoxb-...)."
                ) from None
            raise

    async def _open_socket_url(self, app_token: str) -> str:
        try:
            response = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as err:
            if (why := refusal(err)) is not None:
                raise PlatformRefused(
                    f"Slack refused SLACK_APP_TOKEN ({why}): create an app-level token with the "
                    "connections:write scope (Basic Information > App-Level Tokens) and set "
                    "SLACK_APP_TOKEN to it (xapp-...)."
                ) from None
            raise
        return str(response["url"])

    async def _serve_socket_mode(self, stop: asyncio.Event, app_token: str) -> None:
        # slack-sdk's connect() retries a refused token or an unreachable Slack forever and
        # never looks at our stop event: ask for the socket URL ourselves (a refusal is then a
        # start-up error) and race the connect against stop.
        handler = AsyncSocketModeHandler(self.app, app_token)
        url, self._socket_url = self._socket_url, None  # a socket URL is good for one connect
        handler.client.wss_uri = url or await self._open_socket_url(app_token)
        connecting = asyncio.create_task(handler.connect_async())  # type: ignore[no-untyped-call]
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done():
                connecting.result()
                log.info("slack: connected through Socket Mode")
                self.ready.set()
                await stopping
        finally:
            stopping.cancel()
            connecting.cancel()
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await handler.close_async()  # type: ignore[no-untyped-call]  # untyped in bolt

    async def _bind(self) -> web.AppRunner:
        """Listen on SLACK_HOST:SLACK_PORT; a port that cannot be had is a PlatformRefused."""
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._dispatch)
        if self.app.oauth_flow is not None:
            web_app.router.add_get(INSTALL_PATH, self._install)
            web_app.router.add_get(REDIRECT_PATH, self._install)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise PlatformRefused(
                f"Slack HTTP mode cannot listen on {self._host}:{self._port} ({err.strerror}): "
                "free that port or set SLACK_PORT to another one."
            ) from None
        server = site._server  # aiohttp exposes the bound port only here (port 0 in tests)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        return runner

    async def _serve_http(self, stop: asyncio.Event) -> None:
        runner, self._runner = self._runner or await self._bind(), None
        try:
            log.info("slack: listening on %s:%s%s", self._host, self.port, EVENTS_PATH)
            self.ready.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    async def _install(self, request: web.Request) -> web.Response:
        # "Add to Slack" (sets the state cookie), then Slack's redirect back with a code.
        flow = self.app.oauth_flow
        assert flow is not None, "routed only with an OAuth flow"
        bolt_request = await to_bolt_request(request)
        if request.path == INSTALL_PATH:
            return await to_aiohttp_response(await flow.handle_installation(bolt_request))
        return await to_aiohttp_response(await flow.handle_callback(bolt_request))

    async def _dispatch(self, request: web.Request) -> web.Response:
        # Bolt answers as soon as a listener acks; the listener keeps running after that.
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)
