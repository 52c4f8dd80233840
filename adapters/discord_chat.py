"""The Chat port on Discord, through the bot's channel API only.

Interaction tokens die after 15 minutes, so nothing here uses them: the status message, its
edits, the thread and the MP4 go through `channels/{id}/messages` with the bot token. Every
message carries a nonce derived from the task (discord.py then sets `enforce_nonce`), so its own
retries of a 5xx can never post a duplicate."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import aiohttp
import discord

from adapters.discord_views import buttons_view, status_embed
from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient, MessageGone
from bot.messages import StatusView, clip
from bot.ports import Checkpoint, Delivery

log = logging.getLogger("videobot.discord")

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # 10 MiB for every unboosted server and DMs
RECONCILE_DEPTH = 50
_STATUS_KEY = re.compile(r"vb([0-9A-Z]{4,12})s")
# A 429 asking for longer than this is handed back to the worker (which reschedules the task
# and frees its slot) instead of discord.py sleeping on it inside the call, five times over.
MAX_INLINE_RATE_LIMIT_WAIT = 5.0
_UNKNOWN_CHANNEL = 10003
_UNKNOWN_MESSAGE = 10008
_MISSING_ACCESS = 50001
_MISSING_PERMISSIONS = 50013
_ARCHIVED_THREAD = 50083
_THREAD_EXISTS = 160004
# Posting into the task's thread failed, but its channel may still take a reply: the thread
# was deleted, is archived and locked, or the bot lost access to it.
_THREAD_UNUSABLE = frozenset(
    {_UNKNOWN_CHANNEL, _MISSING_ACCESS, _MISSING_PERMISSIONS, _ARCHIVED_THREAD}
)

_NO_MENTIONS = discord.AllowedMentions.none()
_USER_MENTION = discord.AllowedMentions(users=True, everyone=False, roles=False)

_Send = Callable[[discord.PartialMessageable, bool], Awaitable[discord.Message]]


def thread_name(view: StatusView) -> str:
    """Threads are named after the prompt (Discord allows 1-100 characters)."""
    return clip(" ".join(view.prompt.split()), 90) or f"videobot {view.ref}"


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Map discord.py and network errors onto the port's DeliveryError / DeliveryTransient."""
    try:
        yield
    except discord.RateLimited as err:
        raise DeliveryTransient(
            f"Discord rate-limited {what}", timedelta(seconds=err.retry_after)
        ) from err
    except discord.HTTPException as err:
        if err.status == 429 or err.status >= 500:
            raise DeliveryTransient(f"Discord failed {what} ({err.status})") from err
        detail = f"{err.status}/{err.code}: {err.text}"
        raise DeliveryError(f"Discord refused {what} ({detail})") from err
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        raise DeliveryTransient(f"could not reach Discord for {what} ({err!r})") from err


class DiscordChat:
    """Implements bot.ports.Chat with a discord.py Client (REST only; no gateway needed)."""

    def __init__(self, client: discord.Client, max_upload_bytes: int | None = None) -> None:
        self._client = client
        # discord.py otherwise sleeps out any 429 inside the request (and retries 5 times):
        # a long Retry-After would hold the worker's step. Longer waits raise RateLimited,
        # which `translated` hands to the worker as DeliveryTransient(retry_after).
        client.http.max_ratelimit_timeout = MAX_INLINE_RATE_LIMIT_WAIT
        self._max_upload = max_upload_bytes
        # Interactions carry the real per-guild upload limit; remember the latest one we saw.
        self._limits: dict[str, int] = {}
        self._deleted: set[str] = set()  # status messages found deleted (10008 on edit)

    # -- upload limits -------------------------------------------------------------------------
    def learn_limit(self, workspace_id: str, limit: int) -> None:
        if limit > 0:
            self._limits[workspace_id] = limit

    def upload_limit(self, target: ReplyTarget) -> int:
        limit = self._limits.get(target.workspace_id)
        if limit is None and target.workspace_id.isdigit():
            guild = self._client.get_guild(int(target.workspace_id))
            limit = guild.filesize_limit if guild is not None else None
        limit = limit or DEFAULT_UPLOAD_LIMIT
        return min(limit, self._max_upload) if self._max_upload else limit

    # -- the port ------------------------------------------------------------------------------
    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        channel = self._channel(target.thread_id or target.channel_id, target)
        components = buttons_view(view.buttons)

        async def send(nonce: str) -> discord.Message:
            with translated("posting the status message"):
                if components is None:
                    return await channel.send(
                        embed=status_embed(view), nonce=nonce, allowed_mentions=_NO_MENTIONS
                    )
                return await channel.send(
                    embed=status_embed(view),
                    view=components,
                    nonce=nonce,
                    allowed_mentions=_NO_MENTIONS,
                )

        try:
            message = await send(key)
            if str(message.id) in self._deleted:
                # Re-posting a deleted status message under the task's nonce: Discord's nonce
                # check may hand back the deleted one. A nonce derived from it is new, and
                # stable across discord.py's own retries of this post.
                message = await send(f"{key}r{str(message.id)[-8:]}"[:25])
        finally:
            _forget(components)
        if target.thread_id is None:
            await self._open_thread(message, thread_name(view))
        return str(message.id)

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        channel = self._channel(target.thread_id or target.channel_id, target)
        components = buttons_view(view.buttons)
        try:
            with translated("editing the status message"):
                await channel.get_partial_message(int(message_id)).edit(
                    embed=status_embed(view), view=components
                )
        except DeliveryError as err:
            cause = err.__cause__
            if isinstance(cause, discord.NotFound) and cause.code in (
                _UNKNOWN_MESSAGE,
                _UNKNOWN_CHANNEL,
            ):
                # Deleted (with its channel or thread, perhaps): the board posts a new one.
                self._deleted.add(message_id)
                raise MessageGone(f"the status message {message_id} was deleted") from cause
            raise
        finally:
            _forget(components)

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        limit = self.upload_limit(target)
        if delivery.size > limit:
            # Preflight: a 40005 round trip would only waste the upload (and the user's time).
            raise DeliveryError(
                f"the video is {delivery.size / 2**20:.1f} MB, over this server's "
                f"{limit / 2**20:.0f} MB upload limit"
            )
        posted = await self._find_posted(target, status_message_id, delivery.filename)
        if posted:
            return posted
        content = clip(f"<@{target.user_id}> {delivery.caption}", 2000)

        async def send(channel: discord.PartialMessageable, reply: bool) -> discord.Message:
            file = discord.File(delivery.path, filename=delivery.filename)
            reference = self._reference(target, status_message_id) if reply else None
            if reference is None:
                return await channel.send(
                    content, file=file, nonce=delivery.key, allowed_mentions=_USER_MENTION
                )
            return await channel.send(
                content,
                file=file,
                nonce=delivery.key,
                allowed_mentions=_USER_MENTION,
                reference=reference,
                mention_author=False,
            )

        message = await self._send_in_thread(target, status_message_id, "the video", send)
        return f"{message.channel.id}/{message.id}"

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        content = clip(f"<@{target.user_id}> {text}", 2000)

        async def send(channel: discord.PartialMessageable, reply: bool) -> discord.Message:
            reference = self._reference(target, status_message_id) if reply else None
            if reference is None:
                return await channel.send(content, nonce=key, allowed_mentions=_USER_MENTION)
            return await channel.send(
                content,
                nonce=key,
                allowed_mentions=_USER_MENTION,
                reference=reference,
                mention_author=False,
            )

        message = await self._send_in_thread(target, status_message_id, "the link", send)
        return f"{message.channel.id}/{message.id}"

    # -- helpers -------------------------------------------------------------------------------
    def _channel(self, channel_id: str, target: ReplyTarget) -> discord.PartialMessageable:
        if self._client.user is None or self._client.is_closed():
            raise DeliveryTransient("not connected to Discord yet", timedelta(seconds=5))
        guild_id = int(target.workspace_id) if target.workspace_id.isdigit() else None
        return self._client.get_partial_messageable(int(channel_id), guild_id=guild_id)

    def _reference(
        self, target: ReplyTarget, status_message_id: str | None
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

    async def _send_in_thread(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        what: str,
        send: _Send,
    ) -> discord.Message:
        """Into the task's thread (a thread started on a message has that message's id); when
        no thread could be opened, into the channel as a reply to the status message."""
        thread_id = target.thread_id or status_message_id
        if thread_id is not None:
            try:
                with translated(f"posting {what}"):
                    return await send(self._channel(thread_id, target), False)
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
            return await send(self._channel(target.channel_id, target), True)

    async def _open_thread(self, message: discord.Message, name: str) -> None:
        """A thread on the status message, named after the prompt. Not fatal: DMs have no
        threads, and the bot may lack the permission; then the video replies in the channel."""
        try:
            await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.HTTPException as err:
            if err.code != _THREAD_EXISTS:  # already opened before a crash: fine
                log.warning("could not open a thread on %s: %s", message.id, err)
        except (discord.RateLimited, aiohttp.ClientError, OSError, TimeoutError) as err:
            log.warning("could not open a thread on %s: %r", message.id, err)

    async def _find_posted(
        self, target: ReplyTarget, status_message_id: str | None, filename: str
    ) -> str | None:
        """Reconcile after a crash: the nonce only de-duplicates for a few minutes, so look in
        the thread for our own message carrying this task's file name."""
        thread_id = target.thread_id or status_message_id
        if thread_id is None:
            return None
        found = await self._find_own(
            thread_id, target, lambda m: any(a.filename == filename for a in m.attachments)
        )
        return None if found is None else f"{found.channel.id}/{found.id}"

    async def find_status(self, target: ReplyTarget, key: str) -> str | None:
        """The status message posted before a crash (past the nonce's few minutes): our own
        message whose embed names the task. `key` is the task's status nonce, vb<ref>s."""
        match = _STATUS_KEY.fullmatch(key)
        if match is None:
            return None
        footer = f"task {match.group(1)}"
        found = await self._find_own(
            target.thread_id or target.channel_id,
            target,
            lambda m: any(e.footer.text == footer for e in m.embeds),
        )
        if found is None:
            return None
        if target.thread_id is None and found.thread is None:
            # The crash may have come between the post and opening its thread.
            await self._open_thread(found, f"videobot {match.group(1)}")
        return str(found.id)

    async def _find_own(
        self, channel_id: str, target: ReplyTarget, matches: Callable[[discord.Message], bool]
    ) -> discord.Message | None:
        """Our own most recent message in a channel or thread that `matches`."""
        if self._client.user is None:
            return None
        me = self._client.user.id
        channel = self._channel(channel_id, target)
        try:
            async for message in channel.history(limit=RECONCILE_DEPTH):
                if message.author.id == me and matches(message):
                    return message
        except discord.HTTPException as err:
            if err.status >= 500 or err.status == 429:
                what = f"Discord failed reading the channel ({err.status})"
                raise DeliveryTransient(what) from err
            log.debug("cannot read %s to reconcile: %s", channel_id, err)
        except discord.RateLimited as err:
            wait = timedelta(seconds=err.retry_after)
            raise DeliveryTransient("Discord rate-limited reading the channel", wait) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise DeliveryTransient(f"could not reach Discord ({err!r})") from err
        return None


def _forget(view: discord.ui.View | None) -> None:
    """discord.py stores every sent view in memory; ours are dispatched by DynamicItem from the
    custom_id alone, so drop the stored copy (10,000 status messages must not pin 10,000 views)."""
    if view is not None:
        view.stop()


__all__ = ["DEFAULT_UPLOAD_LIMIT", "DiscordChat", "thread_name", "translated"]
