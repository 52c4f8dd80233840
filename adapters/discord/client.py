"""videobot on Discord: a discord.py Client with an app-command tree (`/video`, `/videobot`),
the "Animate with videobot" message menu, mentions, and persistent task buttons.

Intents: `guilds` (server upload limits, threads), `guild_messages` and `dm_messages` (mentions);
no privileged intent: Discord sends the content of messages that mention the bot anyway.
Commands are synced deliberately (adapters/discord/setup.py), never on boot. Sharded: one
process connects the shards VIDEOBOT_DISCORD_SHARD_IDS names (all by default, one for a small
bot), each IDENTIFY admitted by the identify gate that every process of the bot shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.discord.budget import RestBudget, TokenBucket, spending
from adapters.discord.chat import DiscordChat
from adapters.discord.commands import add_commands
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.identify import FileIdentifyGate, IdentifyGate, bucket_of
from adapters.discord.limits import SharedLimits
from adapters.discord.shards import ShardPlan, plan_shards
from adapters.discord.target import PLATFORM
from adapters.discord.views import TaskButton
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.intake import MediaIntake
from bot.config import Settings
from bot.domain import Profile
from bot.service import VideoService
from bot.supervisor import PlatformRefused

log = logging.getLogger("videobot.discord")
_CLOSE_SECONDS = 3.0
_CHECK_SECONDS = 10.0


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    return wanted


def point_at(settings: Settings) -> None:
    """DISCORD_API_URL / DISCORD_GATEWAY_URL (a local fake, a proxy). discord.py reads both from
    class attributes: a plain Client ignores the URL /gateway/bot returns."""
    if settings.discord_api_url:
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    if settings.discord_gateway_url:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")


class VideoBot(discord.AutoShardedClient):
    """The client; `handlers` is what the persistent buttons find on `interaction.client`.
    `plan` (set before connecting) says which shards it runs; `gate` spaces their IDENTIFYs."""

    def __init__(self, profile: Profile, gate: IdentifyGate | None = None, **options: Any) -> None:
        super().__init__(intents=intents(), **options)
        self.tree = app_commands.CommandTree(self)
        self.handlers: DiscordHandlers | None = None
        self.gate = gate
        self.plan: ShardPlan | None = None
        self.connected = asyncio.Event()  # set once the gateway was ready (and stays set)
        self.tree.error(self._command_failed)
        add_commands(self.tree, profile, self)

    async def setup_hook(self) -> None:
        # Persistent buttons: one template for every task, so old messages work after restarts.
        self.add_dynamic_items(TaskButton)

    async def on_ready(self) -> None:
        self.connected.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        # Replaces discord.py's fixed 5 s pause between this process's shards: the gate
        # spaces IDENTIFYs per bucket across every process (and not at all across buckets).
        if self.gate is None or self.plan is None:
            await super().before_identify_hook(shard_id, initial=initial)
            return
        await self.gate.admit(bucket_of(shard_id or 0, self.plan.max_concurrency))
        log.debug("shard %s identifying", shard_id)

    async def start_shards(
        self, token: str, count: int | None, ids: tuple[int, ...] | None
    ) -> None:
        """login(), learn the plan from Discord, then connect this process's shards."""
        await self.login(token)
        self.plan = await plan_shards(self.http, count, ids)
        self.shard_count = self.plan.count
        self.shard_ids = list(self.plan.ids)
        await self.connect()

    async def on_message(self, message: discord.Message) -> None:
        if self.handlers is None or self.user is None or message.author.id == self.user.id:
            return
        await self.handlers.on_mention(message, self.user)

    async def _command_failed(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A bug (or the ledger down) inside a handler: log it, and tell the user something
        better than an endless "thinking..."."""
        log.error("command %s failed", interaction.command and interaction.command.name,
                  exc_info=error)  # fmt: skip
        text = "Something went wrong on my side; nothing was started. Please try again."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException as err:
            log.warning("could not report the failure to the user: %s", err)

    def get_handlers(self) -> DiscordHandlers:
        if self.handlers is None:
            raise RuntimeError("videobot handlers are not attached")
        return self.handlers


def token_refused() -> PlatformRefused:
    """Discord refused DISCORD_TOKEN: the one line an operator sees (never the token)."""
    return PlatformRefused(
        "Discord refused DISCORD_TOKEN: reset the bot token in the Developer Portal "
        "(your app > Bot > Reset Token) and set DISCORD_TOKEN to the new one."
    )


class DiscordAdapter:
    """What `videobot run` serves: the client, its handlers and the Chat port it feeds."""

    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        service: VideoService,
        intake: MediaIntake,
        *,
        guild_ready_timeout: float = 2.0,
        max_upload_bytes: int | None = None,
        identify_gate: IdentifyGate | None = None,
        rest_budget: RestBudget | None = None,
        upload_limits: SharedLimits | None = None,
    ) -> None:
        if settings.discord_token is None:
            raise ValueError("DISCORD_TOKEN is not set")
        point_at(settings)
        self._token = settings.discord_token
        self._shards = settings.discord_shard_plan()
        profile = settings.profile()
        self.client = VideoBot(
            profile,
            identify_gate or FileIdentifyGate(settings.data_dir / "discord-identify"),
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=spending(rest_budget or TokenBucket(settings.discord_rest_rate)),
        )
        self.chat = DiscordChat(self.client, max_upload_bytes, upload_limits)
        # Attachments come through the one SSRF-safe fetcher, allowlisted to Discord's CDN (and
        # to DISCORD_API_URL's host when it points at another server, as in tests).
        hosts = list(CDN_HOSTS)
        if settings.discord_api_url:
            hosts.append(urlsplit(settings.discord_api_url).hostname or "")
        self._fetcher = SafeFetcher(
            FetchPolicy(
                hosts={"discord": tuple(hosts)}, allow_loopback=settings.fetch_allow_loopback
            )
        )
        self.client.handlers = DiscordHandlers(service, intake, self.chat, profile, self._fetcher)
        self.ready = self.client.connected

    async def serve(self, stop: asyncio.Event) -> None:
        """Connect and serve until `stop` is set, then return within a few seconds whatever the
        gateway is doing (discord.py's own reconnect backoff can last minutes). Raises when the
        connection ends otherwise (the supervisor serves again); PlatformRefused when Discord
        refuses the token."""
        if self.client.is_closed():
            # Served (or checked) before: clear() is discord.py's way to reopen a closed client,
            # but closing the HTTP session closed its connector too, so it needs a new one.
            self.client.clear()
            self.client.http.connector = discord.utils.MISSING
        # close() forgets the event loop and login() only binds one the first time: entering
        # the client binds it again (its matching exit is the bounded close below).
        await self.client.__aenter__()
        token = self._token.get_secret_value()
        running = asyncio.create_task(self.client.start_shards(token, *self._shards))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await self.client.close()
            running.cancel()  # wakes it from a reconnect backoff or a hung login
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({running})
            if stop.is_set():
                await self.aclose()
        failure = None if running.cancelled() else running.exception()
        if isinstance(failure, discord.LoginFailure):
            raise token_refused() from None
        if failure is not None:
            raise failure
        if not stop.is_set():
            raise ConnectionError("the Discord gateway connection ended")

    async def check(self) -> None:
        """Log in once (REST only) at start: PlatformRefused if Discord refuses the token.
        Anything else (Discord unreachable) is left for serve() to retry."""
        try:
            async with asyncio.timeout(_CHECK_SECONDS):
                await self.client.login(self._token.get_secret_value())
        except discord.LoginFailure:
            raise token_refused() from None
        except (OSError, aiohttp.ClientError, discord.HTTPException, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception, TimeoutError):
                async with asyncio.timeout(_CLOSE_SECONDS):
                    await self.client.close()

    async def aclose(self) -> None:
        """Close what outlives one connection (idempotent)."""
        # A limit just learned still reaches the others, unless the database hangs (a stop
        # must end within seconds whatever the network does).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_SECONDS):
                await self.chat.limits.settled()
        await self._fetcher.aclose()
