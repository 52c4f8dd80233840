"""videobot on Discord: a discord.py Client with an app-command tree (`/video`, `/videobot`),
the "Animate with videobot" message menu, mentions, and persistent task buttons.

Intents: `guilds` (server upload limits, threads), `guild_messages` and `dm_messages` (mentions);
no privileged intent: Discord sends the content of messages that mention the bot anyway.
Commands are synced deliberately (adapters/discord/setup.py), never on boot."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket

from adapters.discord.chat import DiscordChat
from adapters.discord.handlers import DiscordHandlers
from adapters.discord.target import PLATFORM
from adapters.discord.views import TaskButton
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.intake import MediaIntake
from bot import commands
from bot.checks import offered_modes
from bot.config import Settings
from bot.domain import Mode, Profile
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


class VideoBot(discord.Client):
    """The client; `handlers` is what the persistent buttons find on `interaction.client`."""

    def __init__(self, profile: Profile, **options: Any) -> None:
        super().__init__(intents=intents(), **options)
        self.tree = app_commands.CommandTree(self)
        self.handlers: DiscordHandlers | None = None
        self.connected = asyncio.Event()  # set once the gateway was ready (and stays set)
        self.tree.error(self._command_failed)
        add_commands(self.tree, profile, self)

    async def setup_hook(self) -> None:
        # Persistent buttons: one template for every task, so old messages work after restarts.
        self.add_dynamic_items(TaskButton)

    async def on_ready(self) -> None:
        self.connected.set()

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


def add_commands(tree: app_commands.CommandTree[Any], profile: Profile, bot: VideoBot) -> None:
    """`/video` (choices from the provider profile), `/videobot ...`, the message menu."""
    video_command = _video_command(profile, bot)

    group = app_commands.Group(name="videobot", description="Your videobot tasks")

    @group.command(name="status", description="Where a task is")
    @app_commands.describe(ref="The task reference, e.g. 7KQ2MX")
    async def status(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "status", ref)

    @group.command(name="cancel", description="Stop a task that has not finished")
    @app_commands.describe(ref="The task reference")
    async def cancel(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "cancel", ref)

    @group.command(name="retry", description="Run an ended task again (a new, billed video)")
    @app_commands.describe(ref="The task reference")
    async def retry(interaction: discord.Interaction, ref: str) -> None:
        await bot.get_handlers().task_verb(interaction, "retry", ref)

    @group.command(name="list", description="Your recent tasks")
    async def list_(interaction: discord.Interaction) -> None:
        await bot.get_handlers().task_verb(interaction, "list")

    @group.command(name="help", description="How to use videobot")
    async def help_(interaction: discord.Interaction) -> None:
        await bot.get_handlers().task_verb(interaction, "help")

    @app_commands.context_menu(name="Animate with videobot")
    async def animate(interaction: discord.Interaction, message: discord.Message) -> None:
        await bot.get_handlers().animate(interaction, message)

    tree.add_command(video_command)
    tree.add_command(group)
    tree.add_command(animate)


_DESCRIPTIONS = {
    "prompt": "What the video shows",
    "mode": "Inferred from the attachments when left out",
    "aspect_ratio": "Landscape or portrait",
    "duration": "Seconds",
    "resolution": "Default: {default}",
    "image": "An image to animate (image-to-video)",
    "ref1": "A reference image (reference-to-video)",
    "ref2": "Another reference image",
    "ref3": "Another reference image",
    "video": "A clip to edit (video edit)",
}


def _video_command(profile: Profile, bot: VideoBot) -> app_commands.Command[Any, ..., None]:
    """`/video` with the options the provider offers: a choice of its durations, ratios, modes
    and resolutions, and only the attachments its modes take."""

    async def make_video(  # noqa: PLR0917  (discord.py maps positional parameters to options)
        interaction: discord.Interaction,
        prompt: str,
        mode: str | None = None,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        image: discord.Attachment | None = None,
        ref1: discord.Attachment | None = None,
        ref2: discord.Attachment | None = None,
        ref3: discord.Attachment | None = None,
        video: discord.Attachment | None = None,
    ) -> None:
        command = commands.VideoCommand(
            prompt=prompt,
            mode=Mode(mode) if mode else None,
            aspect_ratio=aspect_ratio,
            duration=duration,
            resolution=resolution,
        )
        files = [a for a in (image, ref1, ref2, ref3, video) if a is not None]
        await bot.get_handlers().video_command(interaction, command, files)

    modes = offered_modes(profile)
    unused = {
        "mode": len(modes) < 2,
        "resolution": len(profile.resolutions) < 2,
        "image": Mode.I2V not in modes,
        "ref1": Mode.R2V not in modes,
        "ref2": Mode.R2V not in modes,
        "ref3": Mode.R2V not in modes,
        "video": Mode.EDIT not in modes,
    }
    # Discord's own form refuses a prompt over the core's limit (a string option takes at most
    # 6000). Set before the command is built: its options are read from the signature.
    cap = min(profile.prompt_max_chars, 6000)
    make_video.__annotations__["prompt"] = app_commands.Range[str, None, cap]
    signature = inspect.signature(make_video)
    kept = [p for p in signature.parameters.values() if not unused.get(p.name)]
    # An option the provider cannot use is left out of the form rather than refused after.
    make_video.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    choices: dict[str, list[app_commands.Choice[Any]]] = {
        "mode": [app_commands.Choice(name=m.label, value=m.value) for m in modes],
        "aspect_ratio": [app_commands.Choice(name=r, value=r) for r in profile.aspect_ratios],
        "duration": [app_commands.Choice(name=f"{d} s", value=d) for d in profile.durations],
        "resolution": [app_commands.Choice(name=r, value=r) for r in profile.resolutions],
    }
    described = {
        name: text.format(default=profile.default_resolution)
        for name, text in _DESCRIPTIONS.items()
        if not unused.get(name)
    }
    callback = app_commands.describe(**described)(make_video)
    callback = app_commands.choices(
        **{name: listed for name, listed in choices.items() if not unused.get(name)}
    )(callback)
    return app_commands.command(name="video", description="Make a short video from a prompt")(
        callback
    )


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
    ) -> None:
        if settings.discord_token is None:
            raise ValueError("DISCORD_TOKEN is not set")
        point_at(settings)
        self._token = settings.discord_token
        profile = settings.profile()
        self.client = VideoBot(
            profile,
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.chat = DiscordChat(self.client, max_upload_bytes)
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
        running = asyncio.create_task(self.client.start(self._token.get_secret_value()))
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
        await self._fetcher.aclose()
