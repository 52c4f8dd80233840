"""A task's thread on Discord: opened on its status message and named after the prompt, and
the way a video or link gets into it, or into the channel when the thread cannot take it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from adapters.discord.errors import (
    ARCHIVED_THREAD,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    THREAD_EXISTS,
    UNKNOWN_CHANNEL,
    translated,
)
from bot.domain import DM_WORKSPACE, ReplyTarget
from bot.errors import DeliveryError
from bot.messages import StatusView, clip

log = logging.getLogger("videobot.discord")

# Posting into the task's thread failed, but its channel may still take a reply: the thread
# was deleted, is archived and locked, or the bot lost access to it.
_THREAD_UNUSABLE = frozenset(
    {UNKNOWN_CHANNEL, MISSING_ACCESS, MISSING_PERMISSIONS, ARCHIVED_THREAD}
)

Send = Callable[[discord.PartialMessageable, bool], Awaitable[discord.Message]]
Channel = Callable[[str, ReplyTarget], discord.PartialMessageable]


def thread_name(view: StatusView) -> str:
    """Threads are named after the prompt (Discord allows 1-100 characters)."""
    return clip(" ".join(view.prompt.split()), 90) or f"videobot {view.ref}"


def in_dm(target: ReplyTarget) -> bool:
    """A DM with the bot (no guild): it has no threads, so nothing is ever tried there."""
    return target.workspace_id == DM_WORKSPACE


async def open_thread(
    http: discord.http.HTTPClient, target: ReplyTarget, message: discord.Message, name: str
) -> None:
    """A thread on the status message, named after the prompt. Not fatal: DMs have no
    threads, and the bot may lack the permission; then the video replies in the channel.
    Through the HTTP client, not Message.create_thread, which refuses whenever the guild is
    not in discord.py's cache yet (a restart resuming tasks before the gateway is ready)."""
    if in_dm(target):
        return
    try:
        await http.start_thread_with_message(
            message.channel.id, message.id, name=name, auto_archive_duration=1440
        )
    except discord.HTTPException as err:
        if err.code != THREAD_EXISTS:  # already opened before a crash: fine
            log.warning("could not open a thread on %s: %s", message.id, err)
    except (discord.RateLimited, aiohttp.ClientError, OSError, TimeoutError) as err:
        log.warning("could not open a thread on %s: %r", message.id, err)


def reply_reference(
    target: ReplyTarget, status_message_id: str | None
) -> discord.MessageReference | None:
    if status_message_id is None:
        return None
    guild_id = int(target.workspace_id) if target.workspace_id.isdigit() else None
    return discord.MessageReference(
        message_id=int(status_message_id),
        channel_id=int(target.channel_id),
        guild_id=guild_id,
        fail_if_not_exists=False,
    )


async def send_in_thread(
    target: ReplyTarget,
    status_message_id: str | None,
    what: str,
    send: Send,
    channel: Channel,
) -> discord.Message:
    """Into the task's thread (a thread started on a message has that message's id); when
    no thread could be opened, into the channel as a reply to the status message."""
    thread_id = target.thread_id or status_message_id
    if thread_id is not None and not in_dm(target):
        try:
            with translated(f"posting {what}"):
                return await send(channel(thread_id, target), False)
        except DeliveryError as err:
            cause = err.__cause__
            nowhere_else = target.thread_id == target.channel_id  # the user's own thread
            if nowhere_else or not (
                isinstance(cause, discord.HTTPException) and cause.code in _THREAD_UNUSABLE
            ):
                raise  # not a thread problem, or the channel is that same thread
            log.info(
                "cannot post in thread %s (%s); posting %s in the channel",
                thread_id,
                cause.code,
                what,
            )
    with translated(f"posting {what}"):
        return await send(channel(target.channel_id, target), True)
