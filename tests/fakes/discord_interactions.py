"""The interaction side of the fake Discord: the gateway websocket that delivers READY,
GUILD_CREATE and whatever events a test dispatches, and the routes that answer interactions
(callbacks in the `?with_response=1` shape; follow-ups on a token that dies after 15 minutes on
the test's clock; 10062 for an expired interaction, 40060 for one acknowledged twice).

The application's own routes (the bot user, its commands, the gateway URL) are here too. A base
of FakeDiscord, which supplies the clock, the DMs and the base URL these use."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import WSMsgType, web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_wire import Json, error_answer, json_answer, read_body

TOKEN_TTL = timedelta(minutes=15)


@dataclass
class Callback:
    interaction_id: str
    type: int
    data: Json


@dataclass(kw_only=True)
class FakeInteractions:
    callbacks: list[Callback] = field(default_factory=list)
    followups: list[Json] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)  # interaction ids answered 10062
    callback_delay: float = 0.0
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    _token_channels: dict[str, str] = field(default_factory=dict)  # interaction token -> channel
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _seq: int = 0
    synced: dict[str, list[Json]] = field(default_factory=dict)  # commands, by guild or global

    # -- the application: who the bot is, its commands, where its gateway is ---------------------
    async def _me(self, _: web.Request) -> web.Response:
        return json_answer(p.BOT_USER)

    async def _application(self, _: web.Request) -> web.Response:
        return json_answer(
            {
                "id": str(p.APP_ID),
                "name": "videobot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": p.user(),
                "verify_key": "00" * 32,
                "flags": 0,
                "team": None,
                "interactions_endpoint_url": None,
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        scope = request.match_info.get("guild", "global")
        self.synced[scope] = body
        answer = [
            {
                "description": "",
                **c,
                "id": str(p.snowflake()),
                "application_id": str(p.APP_ID),
                "version": "1",
                "default_member_permissions": None,
            }
            for c in body
        ]
        return json_answer(answer)

    async def _gateway_url(self, _: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_answer({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    # -- answering interactions ----------------------------------------------------------------
    async def _callback(self, request: web.Request) -> web.Response:
        interaction_id = request.match_info["id"]
        body, _ = await read_body(request)
        if self.callback_delay:
            await asyncio.sleep(self.callback_delay)
        if interaction_id in self.expired:
            return error_answer(404, 10062, "Unknown interaction")
        if any(c.interaction_id == interaction_id for c in self.callbacks):
            return error_answer(400, 40060, "Interaction has already been acknowledged.")
        self.callbacks.append(Callback(interaction_id, body["type"], body.get("data") or {}))
        flags = (body.get("data") or {}).get("flags", 0)
        return json_answer(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_loading": body["type"] == 5,
                    "response_message_ephemeral": bool(flags & 64),
                },
                "resource": {"type": body["type"]},
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        body, _ = await read_body(request)
        born = self._tokens.get(request.match_info["token"])
        if born is None or self.clock() - born > TOKEN_TTL:
            return error_answer(401, 50027, "Invalid Webhook Token")
        self.followups.append(body)
        # In a DM the follow-up is in that DM (and has no guild); guild answers stay as they were.
        channel_id = self._token_channels.get(request.match_info["token"], "")
        channel_id = channel_id if channel_id in self.dms else str(p.CHANNEL_ID)
        return json_answer(
            p.message(
                int(channel_id),
                p.BOT_USER,
                body.get("content") or "",
                guild_id=self._guild_of(channel_id),
                flags=64,
            )
        )

    # -- the gateway -----------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                break
            payload = json.loads(frame.data)
            if payload["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif payload["op"] == 2:
                self._sockets.append(ws)
                await self._send(ws, "READY", self._ready())
                await self._send(ws, "GUILD_CREATE", p.guild_create(tier=self.guild_tier))
                self.identified.set()
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    def _ready(self) -> Json:
        return {
            "v": 10,
            "user": p.BOT_USER,
            "guilds": [{"id": str(p.GUILD_ID), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "shard": [0, 1],
            "application": {"id": str(p.APP_ID), "flags": 0},
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Json) -> None:
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def dispatch(self, event: str, data: Json) -> None:
        if not self._sockets:
            raise AssertionError("no gateway connection: is the client running?")
        if event == "INTERACTION_CREATE":
            self._tokens.setdefault(data["token"], self.clock())
            self._token_channels.setdefault(data["token"], str(data["channel_id"]))
        for ws in list(self._sockets):
            await self._send(ws, event, data)

    async def interact(self, payload: Json) -> Json:
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def callback_for(self, payload: Json) -> Callback | None:
        return next((c for c in self.callbacks if c.interaction_id == payload["id"]), None)
