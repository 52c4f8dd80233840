"""The interaction side of the fake Discord: the gateway websocket that delivers READY,
GUILD_CREATE and whatever events a test dispatches, and the routes that answer interactions
(callbacks in the `?with_response=1` shape; follow-ups on a token that dies after 15 minutes on
the test's clock; 10062 for an expired interaction, 40060 for one acknowledged twice).

Sharded like Discord: /gateway/bot recommends `shards` and names `max_concurrency`; each
IDENTIFY carries `shard: [id, count]` (recorded with its arrival time in `identifies`), READY
and GUILD_CREATE name only that shard's guilds, and every event of a guild goes only to the
shard (guild_id >> 22) % count, an event without a guild (a DM) to shard 0 (`delivered`).

The application's own routes (the bot user, its commands, the gateway URL) are here too. A base
of FakeDiscord, which supplies the clock, the DMs, the guilds and the base URL these use."""

from __future__ import annotations

import asyncio
import json
import time
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


@dataclass(frozen=True)
class Identify:
    shard_id: int
    shard_count: int
    at: float  # time.monotonic() when the IDENTIFY arrived


@dataclass(frozen=True)
class Delivered:
    shard_id: int
    event: str
    guild_id: int | None


@dataclass(kw_only=True)
class FakeInteractions:
    callbacks: list[Callback] = field(default_factory=list)
    followups: list[Json] = field(default_factory=list)
    # Follow-ups that edited a message (PATCH), by the message they named (`@original`: the
    # one the pressed button is on, for a deferred update).
    edited: list[tuple[str, Json]] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)  # interaction ids answered 10062
    callback_delay: float = 0.0
    identified: asyncio.Event = field(default_factory=asyncio.Event)
    _token_channels: dict[str, str] = field(default_factory=dict)  # interaction token -> channel
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _shard_of: dict[int, tuple[int, int]] = field(default_factory=dict)  # id(socket) -> shard
    shards: int = 1  # what /gateway/bot recommends
    max_concurrency: int = 1
    identifies: list[Identify] = field(default_factory=list)
    refuse_token: bool = False
    delivered: list[Delivered] = field(default_factory=list)
    _seq: int = 0
    synced: dict[str, list[Json]] = field(default_factory=dict)  # commands, by guild or global
    guild_ids: list[int] = field(default_factory=lambda: [p.GUILD_ID])  # the bot's servers
    channel_guilds: dict[str, int] = field(default_factory=dict)  # channel/thread id -> guild

    def guild_channel(self, guild_id: int) -> str:
        """The text channel of a guild the bot is in (the test guild's is p.CHANNEL_ID)."""
        if guild_id == p.GUILD_ID:
            return str(p.CHANNEL_ID)
        return next(c for c, g in self.channel_guilds.items() if g == guild_id)

    # -- the application: who the bot is, its commands, where its gateway is ---------------------
    async def _me(self, _: web.Request) -> web.Response:
        if self.refuse_token:  # a reset or mistyped DISCORD_TOKEN, as Discord answers it
            return error_answer(401, 0, "401: Unauthorized")
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
        limit = {"total": 1000, "remaining": 999, "reset_after": 0,
                 "max_concurrency": self.max_concurrency}  # fmt: skip
        return json_answer(
            {"url": self.gateway_url, "shards": self.shards, "session_start_limit": limit}
        )

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    # -- guilds --------------------------------------------------------------------------------
    def add_guild(self, guild_id: int) -> str:
        """Another server the bot is in, with one text channel (its id returned)."""
        channel_id = str(p.snowflake())
        self.guild_ids.append(guild_id)
        self.channels.add(channel_id)
        self.channel_guilds[channel_id] = guild_id
        return channel_id

    async def _guild(self, request: web.Request) -> web.Response:
        guild_id = int(request.match_info["guild"])
        if guild_id not in self.guild_ids:
            return error_answer(404, 10004, "Unknown Guild")
        guild = p.guild_create(guild_id, int(self.guild_channel(guild_id)), tier=self.guild_tier)
        for gateway_only in ("channels", "threads", "members", "voice_states", "presences"):
            guild.pop(gateway_only)
        return json_answer(guild)

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
        if request.method == "PATCH":
            self.edited.append((request.match_info["mid"], body))
        # In a DM the follow-up is in that DM (and has no guild); guild answers stay as they were.
        channel_id = self._token_channels.get(request.match_info["token"], "")
        known = channel_id in self.dms or channel_id in self.channel_guilds
        channel_id = channel_id if known else str(p.CHANNEL_ID)
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
                shard_id, count = payload["d"].get("shard") or (0, 1)
                self.identifies.append(Identify(shard_id, count, time.monotonic()))
                if not 0 <= shard_id < count:
                    await ws.close(code=4010, message=b"Invalid shard")
                    break
                self._sockets.append(ws)
                self._shard_of[id(ws)] = (shard_id, count)
                guilds = [g for g in self.guild_ids if shard_for(g, count) == shard_id]
                await self._send(ws, "READY", self._ready(shard_id, count, guilds))
                for guild_id in guilds:
                    channel = self.guild_channel(guild_id)
                    guild = p.guild_create(guild_id, int(channel), tier=self.guild_tier)
                    await self._send(ws, "GUILD_CREATE", guild)
                self.identified.set()
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    def _ready(self, shard_id: int, count: int, guilds: list[int]) -> Json:
        return {
            "v": 10,
            "user": p.BOT_USER,
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": f"fake-session-{shard_id}",
            "resume_gateway_url": self.gateway_url,
            "shard": [shard_id, count],
            "application": {"id": str(p.APP_ID), "flags": 0},
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Json) -> None:
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def dispatch(self, event: str, data: Json) -> None:
        """Send an event to the shard that serves its guild (a DM's: shard 0)."""
        if not self._sockets:
            raise AssertionError("no gateway connection: is the client running?")
        guild_id = int(data["guild_id"]) if data.get("guild_id") else None
        sockets = [ws for ws in self._sockets if self._serves(ws, guild_id)]
        if not sockets:
            raise AssertionError(f"no shard connected serves guild {guild_id}")
        if event == "INTERACTION_CREATE":
            self._tokens.setdefault(data["token"], self.clock())
            self._token_channels.setdefault(data["token"], str(data["channel_id"]))
        for ws in sockets:
            shard_id, _ = self._shard_of[id(ws)]
            self.delivered.append(Delivered(shard_id, event, guild_id))
            await self._send(ws, event, data)

    def _serves(self, ws: web.WebSocketResponse, guild_id: int | None) -> bool:
        shard_id, count = self._shard_of[id(ws)]
        return shard_id == (0 if guild_id is None else shard_for(guild_id, count))

    async def interact(self, payload: Json) -> Json:
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def callback_for(self, payload: Json) -> Callback | None:
        return next((c for c in self.callbacks if c.interaction_id == payload["id"]), None)


def shard_for(guild_id: int, count: int) -> int:
    """Discord's sharding formula: the shard a guild's events go to."""
    return (guild_id >> 22) % count
