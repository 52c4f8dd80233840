"""Discord for a process that only delivers (the worker role): the Chat port over REST, with
no gateway connection. It logs in (GET /users/@me: who "our own message" is when reconciling)
and sends through the channel API like the intake's chat, spending from the same REST budget;
the upload limit a gateway would have told it comes from GET /guilds/{id} instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import discord

from adapters.discord.budget import RestBudget, TokenBucket, spending
from adapters.discord.chat import DiscordChat
from adapters.discord.client import point_at, token_refused
from adapters.discord.limits import SharedLimits
from adapters.discord.target import PLATFORM
from bot.config import Settings
from bot.domain import ReplyTarget
from bot.ports import Checkpoint, Delivery

log = logging.getLogger("videobot.discord")
_TIMEOUT_SECONDS = 10.0


class RestChat(DiscordChat):
    """DiscordChat without a guild cache: each server's upload limit is read once by REST."""

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        await self.learn_guild_limit(target.workspace_id)
        return await super().upload_video(target, status_message_id, delivery, checkpoint)

    async def learn_guild_limit(self, workspace_id: str) -> None:
        """Read a server's boost tier once; on any failure the default limit stays."""
        if not workspace_id.isdigit() or self.limits.knows(workspace_id):
            return
        try:
            guild = await self._client.http.get_guild(int(workspace_id))
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as err:
            # The default (every unboosted server's) limit holds; a video over it is posted
            # as a link, never lost.
            log.debug("could not read guild %s for its upload limit: %s", workspace_id, err)
            return
        tier = int(guild.get("premium_tier") or 0)
        limits = discord.Guild._PREMIUM_GUILD_LIMITS  # noqa: SLF001  (discord.py's own table)
        self.learn_limit(workspace_id, int(limits.get(tier, limits[0]).filesize))


class DiscordSender:
    """What a delivery-only process serves for Discord (supervisor.ChatAdapter): a logged-in
    REST client kept open until stop."""

    platform = PLATFORM

    def __init__(
        self,
        settings: Settings,
        *,
        max_upload_bytes: int | None = None,
        rest_budget: RestBudget | None = None,
        upload_limits: SharedLimits | None = None,
    ) -> None:
        if settings.discord_token is None:
            raise ValueError("DISCORD_TOKEN is not set")
        point_at(settings)
        self._token = settings.discord_token
        budget = rest_budget or TokenBucket(settings.discord_rest_rate)
        self.client = discord.Client(
            intents=discord.Intents.none(),
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=spending(budget),
        )
        self.chat = RestChat(self.client, max_upload_bytes, upload_limits)
        self.ready = asyncio.Event()

    async def check(self) -> None:
        """Log in once: PlatformRefused if Discord refuses the token; anything else (Discord
        unreachable) is left for serve() to retry."""
        try:
            await self._login()
        except discord.LoginFailure:
            raise token_refused() from None
        except (OSError, aiohttp.ClientError, discord.HTTPException, TimeoutError):
            pass
        finally:
            await self._close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Stay logged in until `stop`; raises what a failed login raised (the supervisor
        serves again), PlatformRefused when Discord refuses the token."""
        try:
            await self._login()
            self.ready.set()
            await stop.wait()
        except discord.LoginFailure:
            raise token_refused() from None
        finally:
            # Also after a failed login: its HTTP session was opened, and each retry would
            # leave one more behind.
            await self._close()

    async def deliver_only(self, stop: asyncio.Event) -> None:
        """The worker role: stay logged in until `stop`; a login Discord cannot answer is
        tried again with a growing pause, a refused token ends it (PlatformRefused)."""
        for failures in range(1_000_000):
            try:
                await self.serve(stop)
                return
            except (OSError, aiohttp.ClientError, discord.HTTPException, TimeoutError) as err:
                log.warning("discord: could not log in to send (%s); trying again", err)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(60, 2**failures))
                if stop.is_set():
                    return

    async def aclose(self) -> None:
        await self._close()

    async def _login(self) -> None:
        if self.client.is_closed():
            # discord.py's way to reopen a closed client; closing its session closed the
            # connector too, so it needs a new one.
            self.client.clear()
            self.client.http.connector = discord.utils.MISSING
        await self.client.__aenter__()  # binds the loop (a closed client forgets it)
        async with asyncio.timeout(_TIMEOUT_SECONDS):
            await self.client.login(self._token.get_secret_value())

    async def _close(self) -> None:
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(3.0):
                await self.client.close()
