"""Setting videobot up on Discord, done deliberately and never on boot: `videobot
discord-sync` registers the commands (creation is rate limited per day), `videobot invite`
prints the URL that adds the bot with the permissions it needs."""

from __future__ import annotations

import argparse
import logging
import sys

import aiohttp
import discord

from adapters.discord.client import VideoBot, point_at, token_refused
from bot.config import Settings

log = logging.getLogger("videobot.discord")

# View channels, send messages (and in threads), create public threads, embed links, attach
# files, read message history (to reconcile an upload after a crash).
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot with the minimal permissions it needs."""
    return discord.utils.oauth_url(
        application_id, permissions=PERMISSIONS, scopes=("bot", "applications.commands")
    )


async def sync_commands(settings: Settings, global_: bool = False) -> list[str]:
    """Register the commands with Discord: to DISCORD_GUILD_ID (instant, for setup) and, only
    when asked, globally. Command creation is rate limited (200/day/guild): never on boot.
    Returns the names synced."""
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    if not global_ and settings.discord_guild_id is None:
        raise ValueError("set DISCORD_GUILD_ID, or sync globally (takes up to an hour to show)")
    point_at(settings)
    client = VideoBot(settings.profile())
    async with client:
        await client.login(settings.discord_token.get_secret_value())
        guild = discord.Object(id=settings.discord_guild_id or 0)
        if global_:
            synced = await client.tree.sync()
            if settings.discord_guild_id is not None:
                # Drop the setup-time guild copies, or the guild would list every command twice.
                await client.tree.sync(guild=guild)
        else:
            client.tree.copy_global_to(guild=guild)
            synced = await client.tree.sync(guild=guild)
        log.info("synced %d Discord commands", len(synced))
        return [command.name for command in synced]


async def application_invite(settings: Settings) -> str:
    """Log in (REST only) to learn the application id, and build the invite URL from it."""
    if settings.discord_token is None:
        raise ValueError("DISCORD_TOKEN is not set")
    point_at(settings)
    client = VideoBot(settings.profile())
    async with client:
        await client.login(settings.discord_token.get_secret_value())
        assert client.application_id is not None
        return invite_url(client.application_id)


async def run_discord_setup(settings: Settings, args: argparse.Namespace) -> int:
    """Command sync is deliberate (creation is rate limited per day), never done on boot."""
    if settings.discord_token is None:
        print("Set DISCORD_TOKEN first (Developer Portal > your app > Bot).", file=sys.stderr)
        return 2
    if args.command == "discord-sync" and not args.global_ and settings.discord_guild_id is None:
        print(
            "Set DISCORD_GUILD_ID to sync to your server instantly, or pass --global.",
            file=sys.stderr,
        )
        return 2
    # Library chatter (voice support, "logging in") is noise here: the output is the lines below,
    # and a refused token is one plain line (PlatformRefused, printed by the composition root).
    root = logging.getLogger()
    root.setLevel(max(root.level, logging.ERROR))
    try:
        if args.command == "discord-sync":
            names = await sync_commands(settings, global_=args.global_)
            where = "globally" if args.global_ else f"to guild {settings.discord_guild_id}"
            print(f"synced {', '.join(names)} {where}")
        print(f"invite: {await application_invite(settings)}")
    except discord.LoginFailure:
        raise token_refused() from None
    except (aiohttp.ClientError, OSError, TimeoutError, discord.HTTPException) as err:
        where = settings.discord_api_url or "discord.com"
        print(
            f"Could not reach Discord at {where} ({type(err).__name__}). Check the network, "
            "any proxy, and DISCORD_API_URL if you set it, then run it again.",
            file=sys.stderr,
        )
        return 1
    return 0
