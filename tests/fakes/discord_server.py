"""A local fake Discord that the real discord.py client talks to: the REST routes videobot uses
(with multipart uploads, nonce de-duplication, threads and a CDN) here, the gateway and the
interaction routes in discord_interactions, the wire format in discord_wire.

Faithful where it matters to us: JSON answered with exactly `application/json` (discord.py
parses nothing else), `enforce_nonce` returning the same author's first message with that nonce
(any channel; a nonce over 25 characters is 400 50035), and DMs with the bot (`open_dm`):
messages there carry no `guild_id`, a thread cannot be started in one (400 50024), and an id
that is no channel (a message's, where no thread was opened) is 404 10003."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_interactions import FakeInteractions
from tests.fakes.discord_wire import (
    SENT,
    Fault,
    Json,
    Sent,
    error_answer,
    json_answer,
    read_body,
)

STARTED: list[FakeDiscord] = []  # every fake started in this run, for the contract check


@dataclass
class FakeDiscord(FakeInteractions):
    clock: Callable[[], datetime]
    guild_tier: int = 0
    base_url: str = ""
    messages: dict[str, Json] = field(default_factory=dict)  # every message by id
    deleted: dict[str, Json] = field(default_factory=dict)  # messages deleted by users
    edits: dict[str, list[Json]] = field(default_factory=dict)
    threads: dict[str, Json] = field(default_factory=dict)
    cdn: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)  # every request with its body, in order
    fail_after_create: int = 0  # next N message creates: create, then answer 502
    drop_after_create: int = 0  # next N message creates: create, then drop the connection
    refuse_threads: bool = False  # 50013 Missing Permissions on thread creation
    # Discord de-duplicates a nonce for a few minutes only; True models a retry after that.
    nonces_expired: bool = False
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # see fail()
    no_access: set[str] = field(default_factory=set)  # channel/thread ids: 403 50001
    channels: set[str] = field(default_factory=lambda: {str(p.CHANNEL_ID)})  # text channels
    dms: dict[str, Json] = field(default_factory=dict)  # DM channels with the bot, by id
    _nonces: dict[tuple[str, str], str] = field(default_factory=dict)  # (author, nonce) -> id
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- fault knobs ---------------------------------------------------------------------------
    def fail(
        self,
        route: str,
        status: int,
        code: int = 0,
        message: str = "injected failure",
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """The next `times` requests of `route` (create: POST a message, edit: PATCH one,
        history: GET a channel's messages) answer `status`; nothing is created or
        changed."""
        fault = Fault(status, code, message, retry_after)
        self.faults.setdefault(route, []).extend([fault] * times)

    def delete_message(self, message_id: str) -> None:
        """A moderator deleted the message: edits now answer 404 10008 Unknown Message (a
        thread started on it lives on, as on Discord). Its nonce is still remembered: a new
        post with that nonce gets the deleted message back (the worst case we can assume)."""
        self.deleted[message_id] = self.messages.pop(message_id)

    def _fault(self, route: str, channel_id: str) -> web.Response | None:
        if channel_id in self.no_access:
            return error_answer(403, 50001, "Missing Access")
        queued = self.faults.get(route)
        return queued.pop(0).response() if queued else None

    # -- application -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._log])
        api = "/api/v10"
        app.add_routes(
            [
                web.get(api + "/users/@me", self._me),
                web.get(api + "/oauth2/applications/@me", self._application),
                web.get(api + "/applications/@me", self._application),
                web.get(api + "/gateway", self._gateway_url),
                web.get(api + "/gateway/bot", self._gateway_url),
                web.get(api + "/guilds/{guild}", self._guild),
                web.put(api + "/applications/{app}/commands", self._sync),
                web.put(api + "/applications/{app}/guilds/{guild}/commands", self._sync),
                web.post(api + "/interactions/{id}/{token}/callback", self._callback),
                web.post(api + "/webhooks/{app}/{token}", self._followup),
                web.patch(api + "/webhooks/{app}/{token}/messages/{mid}", self._followup),
                web.post(api + "/channels/{cid}/messages", self._create),
                web.get(api + "/channels/{cid}/messages", self._history),
                web.patch(api + "/channels/{cid}/messages/{mid}", self._edit),
                web.post(api + "/channels/{cid}/messages/{mid}/threads", self._thread),
                web.get("/cdn/{name}", self._cdn),
                web.get("/gateway", self._gateway),
            ]
        )
        return app

    @web.middleware
    async def _log(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        request[SENT] = Sent(request.method, request.path, query=dict(request.query))
        self.sent.append(request[SENT])
        response: web.StreamResponse = await handler(request)
        self.changed.set()
        return response

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/v10"

    # -- DMs -----------------------------------------------------------------------------------
    def open_dm(self, recipient: Json | None = None) -> Json:
        """A user's DM channel with the bot, as an interaction from it carries it: type 1, no
        guild, the user as its recipient (the shape Discord sends, recorded in
        tests/payloads/discord/)."""
        channel: Json = {
            "id": str(p.snowflake()),
            "type": 1,
            "flags": 0,
            "last_message_id": None,
            "recipient_flags": 0,
            "recipients": [recipient or p.user()],
        }
        self.dms[channel["id"]] = channel
        return channel

    # -- interactions --------------------------------------------------------------------------
    # -- channel messages ----------------------------------------------------------------------
    def _channel_known(self, channel_id: str) -> bool:
        # Anything else, such as a message id on which no thread was opened, is no channel.
        return channel_id in self.channels or channel_id in self.threads or channel_id in self.dms

    def _guild_of(self, channel_id: str) -> int | None:
        """Messages in a DM carry no guild_id (discord.py then gives them no guild)."""
        return None if channel_id in self.dms else self.channel_guilds.get(channel_id, p.GUILD_ID)

    async def _create(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["cid"]
        body, files = await read_body(request)
        if not self._channel_known(channel_id):
            return error_answer(404, 10003, "Unknown Channel")
        if (fault := self._fault("create", channel_id)) is not None:
            return fault
        nonce = body.get("nonce")
        if isinstance(nonce, str) and len(nonce) > 25:
            return error_answer(400, 50035, "Invalid Form Body (nonce: at most 25 characters)")
        # Discord: with `enforce_nonce`, a nonce already used by the same author in the past
        # few minutes returns that message and creates none (whatever the channel). Without
        # `enforce_nonce` the nonce is only echoed back. Every message here is the bot's.
        author = str(p.BOT_USER["id"])
        if nonce is not None and body.get("enforce_nonce") and not self.nonces_expired:
            existing = self._nonces.get((author, str(nonce)))
            if existing is not None:
                return json_answer(self.messages.get(existing) or self.deleted[existing])
        attachments = [
            p.attachment(self._store_cdn(name, data), name, len(data), "video/mp4")
            for name, data in files
        ]
        created = p.message(
            int(channel_id),
            p.BOT_USER,
            body.get("content") or "",
            guild_id=self._guild_of(channel_id),
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=attachments,
            nonce=nonce,
        )
        if "message_reference" in body:
            reference = body["message_reference"]  # discord.py sends ids as ints; Discord strings
            created["message_reference"] = {
                k: str(v) if k.endswith("_id") else v for k, v in reference.items()
            }
        self.messages[created["id"]] = created
        if nonce is not None:
            self._nonces[(author, str(nonce))] = created["id"]
        if self.fail_after_create:
            self.fail_after_create -= 1
            return web.Response(status=502, text="<html>502 Bad Gateway</html>")
        if self.drop_after_create and request.transport is not None:
            self.drop_after_create -= 1
            request.transport.close()  # the answer is lost; the message exists
        return json_answer(created)

    async def _history(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["cid"]
        if not self._channel_known(channel_id):
            return error_answer(404, 10003, "Unknown Channel")
        if (fault := self._fault("history", channel_id)) is not None:
            return fault
        limit = int(request.query.get("limit", "50"))
        found = sorted(
            (m for m in self.messages.values() if m["channel_id"] == channel_id),
            key=lambda m: int(m["id"]),
        )
        if "after" in request.query:  # the oldest ones after it, newest first, as Discord
            after = int(request.query["after"])
            return json_answer(list(reversed([m for m in found if int(m["id"]) > after][:limit])))
        if "before" in request.query:
            found = [m for m in found if int(m["id"]) < int(request.query["before"])]
        return json_answer(list(reversed(found))[:limit])

    async def _edit(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        if (fault := self._fault("edit", request.match_info["cid"])) is not None:
            return fault
        message = self.messages.get(request.match_info["mid"])
        if message is None or message["channel_id"] != request.match_info["cid"]:
            return error_answer(404, 10008, "Unknown Message")
        self.edits.setdefault(message["id"], []).append(body)
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] if body[key] is not None else []
        message["edited_timestamp"] = p.now_iso()
        return json_answer(message)

    async def _thread(self, request: web.Request) -> web.Response:
        channel_id, message_id = request.match_info["cid"], request.match_info["mid"]
        body, _ = await read_body(request)
        if channel_id in self.dms:
            # DMs have no threads: Discord refuses by channel type, whatever the message.
            return error_answer(400, 50024, "Cannot execute action on this channel type")
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            return error_answer(404, 10008, "Unknown Message")
        if self.refuse_threads:
            return error_answer(403, 50013, "Missing Permissions")
        if message_id in self.threads:
            return error_answer(400, 160004, "A thread has already been created for this message")
        guild_id = self._guild_of(channel_id) or p.GUILD_ID
        thread = p.thread_channel(int(message_id), int(channel_id), body["name"], guild_id)
        self.threads[message_id] = thread
        self.channel_guilds[message_id] = guild_id
        if self._sockets:  # Discord tells the creator's gateway, so the client caches it
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return json_answer(thread)

    def _store_cdn(self, name: str, data: bytes) -> str:
        key = f"{p.snowflake()}-{name}"
        self.cdn[key] = data
        return f"{self.base_url}/cdn/{key}"

    def attach(self, name: str, data: bytes, content_type: str) -> Json:
        """An attachment a user uploaded: its bytes served by the fake CDN."""
        return p.attachment(self._store_cdn(name, data), name, len(data), content_type)

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.cdn.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    # -- what tests look at ----------------------------------------------------------------------
    def in_channel(self, channel_id: int | str) -> list[Json]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    async def wait_for(self, predicate: Callable[[], object], within: float = 5.0) -> None:
        """Wait (event-driven, bounded) until the client has made the request a test expects."""
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def start_fake_discord(
    clock: Callable[[], datetime], guild_tier: int = 0
) -> tuple[FakeDiscord, web.AppRunner]:
    fake = FakeDiscord(clock=clock, guild_tier=guild_tier)
    STARTED.append(fake)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}"
    return fake, runner
