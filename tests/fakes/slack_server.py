"""A local fake Slack on loopback (aiohttp): the Web API methods videobot uses (answered in
slack_web_api.py), the upload URL of the external-upload flow, response_url webhooks, a private
file host and a Socket Mode websocket. It records every request (with its Authorization header)
and can be told to fail."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slack_oauth import OAuthMethods, Workspace
from tests.fakes.slack_web_api import Call, Message, SlackFile, WebApiMethods

BOT_TOKEN = "xoxb-fake-0000-test-bot-token"
APP_TOKEN = "xapp-1-fake-test-app-token"
TEAM = "T0TEAM"
BOT_USER = "U0VIDEOBOT"
_PROXY_PAGE = "<html><body><h1>503 Service Unavailable</h1></body></html>"
_HISTORY = ("conversations.history", "conversations.replies")
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


class FakeSlack(WebApiMethods, OAuthMethods):
    """The workspace TEAM, whose bot user is BOT_USER, and any workspace that installs the
    app through the OAuth flow (slack_oauth.py). A channel given to a workspace in
    `channel_teams` answers channel_not_found to any other workspace's token."""

    team_id = TEAM
    bot_user_id = BOT_USER

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.files: dict[str, SlackFile] = {}
        self.files_read = True  # False: the file host answers with a login page
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.retry_after: dict[str, str] = {}  # method -> Retry-After of its queued 429s
        self.kicked: set[str] = set()  # channels the bot was removed from: not_in_channel
        self.socket_acks: list[dict[str, Any]] = []
        # response_url answers take this long unless release_responses() lets them go sooner;
        # `timeline` records when each arrived and was answered, in order (tests add marks).
        self.response_delay = 0.0
        self.timeline: list[str] = []
        self._responses_released = asyncio.Event()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.other_origin = ""  # same server under another host name: a different origin
        self.channel_teams: dict[str, str] = {}
        self._history_at: dict[tuple[str, str], float] = {}
        self._start_oauth(BOT_TOKEN, Workspace(TEAM, BOT_USER))

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # files.info is a GET in slack-sdk
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{hook}", self._response)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file)
        app.router.add_get("/redirect/{file_id}", self._redirect)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.other_origin = f"http://localhost:{port}"
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- test helpers ------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        status: int = 200,
        error: str = "internal_error",
        times: int = 1,
        retry_after: int | None = None,
        **extra: Any,
    ) -> None:
        """The next `times` calls of `method` answer `status` with ok=false and `error` (a 429
        carries `Retry-After: retry_after`, 1 s unless told). Status 502/503 with
        error="html" answer a proxy's HTML page instead of JSON. `method` "upload" fails the
        upload URL (the bytes) instead of a Web API method."""
        for _ in range(times):
            self.failures.setdefault(method, []).append((status, {"error": error, **extra}))
        if retry_after is not None:
            self.retry_after[method] = str(retry_after)

    def release_responses(self) -> None:
        """Let every held (and every later) response_url request answer at once."""
        self._responses_released.set()

    def delete_message(self, ts: str) -> None:
        """A user (an admin) deleted the message: edits now answer message_not_found."""
        del self.messages[ts]

    def add_user_file(self, name: str, mimetype: str, data: bytes) -> dict[str, Any]:
        """A file a user shared; returns its Slack file object (as events carry it)."""
        file = SlackFile(f"F{next(self._ids):06d}", name, mimetype, data, name, uploaded=True)
        self.files[file.id] = file
        return self._file_object(file)

    def named(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Until `predicate()` holds, re-checked on every recorded request."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)

    async def socket_send(self, payload: dict[str, Any]) -> None:
        for ws in self._sockets:
            await ws.send_str(json.dumps(payload))

    async def _record(self, call: Call) -> None:
        call.at = self.clock()
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # -- the Web API -------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if request.content_type == "application/json" and raw:
            params.update(json.loads(raw))
        elif raw:
            params.update(dict(await request.post()))
        auth = request.headers.get("Authorization")
        space = self.workspace_of(auth)
        team = space.team_id if space else None
        await self._record(Call(request.path, method, request.host, auth, params, raw, team=team))
        if method == "apps.connections.open":
            if auth != f"Bearer {APP_TOKEN}":
                return _json({"ok": False, "error": "invalid_auth"})  # as Slack refuses it
            return _json({"ok": True, "url": f"{self.url.replace('http', 'ws')}/socket"})
        if method == "oauth.v2.access":
            return _json(self.oauth_access(auth, params))
        if space is None:
            return _json({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return _json(self.auth_test(space))
        refused = self._refused(method, space, params)
        if refused is not None:
            return refused
        if self.failures.get(method):
            status, body = self.failures[method].pop(0)
            if body["error"] == "html":
                return web.Response(status=status, text=_PROXY_PAGE, content_type="text/html")
            headers = {"Retry-After": self.retry_after.get(method, "1")} if status == 429 else None
            return _json({"ok": False, **body}, status, headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return _json({"ok": False, "error": "unknown_method"})
        result: dict[str, Any] = handler(params)
        return _json(result)

    def _refused(
        self, method: str, space: Workspace, params: dict[str, Any]
    ) -> web.Response | None:
        """Slack's refusals that depend on who asks: another workspace's channel, a channel
        the bot was removed from, a second history read inside the minute."""
        channel = str(params.get("channel") or params.get("channel_id") or "")
        if self.channel_teams.get(channel, space.team_id) != space.team_id:
            return _json({"ok": False, "error": "channel_not_found"})
        if channel in self.kicked and method.startswith(("chat.", "files.complete")):
            return _json({"ok": False, "error": "not_in_channel"})
        if self.history_cap is not None and method in _HISTORY:
            # A distributed app outside the Marketplace: one such read a minute per workspace.
            last = self._history_at.get((method, space.team_id))
            if last is not None and self.clock() - last < 60:
                return _json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "60"})
            self._history_at[(method, space.team_id)] = self.clock()
        return None

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        auth = request.headers.get("Authorization")
        await self._record(Call(request.path, "upload", request.host, auth, {}, data))
        if self.failures.get("upload"):
            status, _ = self.failures["upload"].pop(0)
            return web.Response(status=status, text="nope")
        file = self.files[request.match_info["file_id"]]
        file.data, file.uploaded = data, True
        return web.Response(text=f"OK - {len(data)}")

    async def _response(self, request: web.Request) -> web.Response:
        params = await request.json()
        auth = request.headers.get("Authorization")
        self.timeline.append("response_url received")
        await self._record(Call(request.path, "response", request.host, auth, params))
        if self.response_delay:
            try:
                await asyncio.wait_for(self._responses_released.wait(), self.response_delay)
            except TimeoutError:
                pass  # a slow response_url: it answers after its full delay
        self.timeline.append("response_url answered")
        async with self._changed:
            self._changed.notify_all()
        return web.Response(text="ok")

    async def _file(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        await self._record(Call(request.path, "file", request.host, auth, {}))
        file_id = request.match_info["team_file"].split("-", 1)[1]
        file = self.files.get(file_id)
        if not self.files_read or self.workspace_of(auth) is None or file is None:
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        return web.Response(body=file.data, content_type=file.mimetype)

    async def _redirect(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        await self._record(Call(request.path, "redirect", request.host, auth, {}))
        file = self.files[request.match_info["file_id"]]
        location = f"{self.other_origin}/files-pri/{TEAM}-{file.id}/{file.name}"
        raise web.HTTPFound(location)

    def redirecting_object(self, file_object: dict[str, Any]) -> dict[str, Any]:
        """The same file, but its url_private answers with a redirect to another origin."""
        url = f"{self.url}/redirect/{file_object['id']}"
        return {**file_object, "url_private": url, "url_private_download": url}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        async with self._changed:  # wait_for(...) may be waiting for a connection
            self._changed.notify_all()
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
                await self._record(Call("/socket", "socket_ack", request.host, None, {}))
        self._sockets.remove(ws)
        return ws


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=headers
    )
