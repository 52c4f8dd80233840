"""The Chat port on Discord, through the bot's channel API only.

Interaction tokens die after 15 minutes, so nothing here uses them: the status message, its
edits, the thread and the MP4 go through `channels/{id}/messages` with the bot token. Every
message carries a nonce derived from the task (discord.py then sets `enforce_nonce`), so its own
retries of a 5xx can never post a duplicate."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta

import aiohttp
import discord

from adapters.discord.errors import UNKNOWN_CHANNEL, UNKNOWN_MESSAGE, translated
from adapters.discord.limits import DEFAULT_UPLOAD_LIMIT, SharedLimits, UploadLimits
from adapters.discord.thread import (
    in_dm,
    open_thread,
    reply_reference,
    send_in_thread,
    thread_name,
)
from adapters.discord.views import buttons_view, inert, status_embed
from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient, MessageGone
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery

log = logging.getLogger("videobot.discord")

RECONCILE_DEPTH = 50
_STATUS_KEY = re.compile(r"vb([0-9A-Z]{4,12})s")
# The checkpoint before a video is sent, with a snowflake from a little before then: a later
# attempt reads the channel from that point on, however busy the channel has been since.
_SENDING = "discord:sending:"
_CLOCK_MARGIN = timedelta(minutes=5)  # our clock against Discord's
# A 429 asking for longer than this is handed back to the worker (which reschedules the task
# and frees its slot) instead of discord.py sleeping on it inside the call, five times over.
MAX_INLINE_RATE_LIMIT_WAIT = 5.0

_NO_MENTIONS = discord.AllowedMentions.none()


def requester_only(target: ReplyTarget) -> discord.AllowedMentions:
    """Ping the requester and no one else: `parse: ["users"]` would ping every `<@id>` a
    prompt carries into the caption, so the one user is named instead (and no reply ping)."""
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        users=[discord.Object(int(target.user_id))],
        replied_user=False,
    )


class DiscordChat:
    """Implements bot.ports.Chat with a discord.py Client (REST only; no gateway needed)."""

    def __init__(
        self,
        client: discord.Client,
        max_upload_bytes: int | None = None,
        shared: SharedLimits | None = None,
    ) -> None:
        self._client = client
        # discord.py otherwise sleeps out any 429 inside the request (and retries 5 times):
        # a long Retry-After would hold the worker's step. Longer waits raise RateLimited,
        # which `translated` hands to the worker as DeliveryTransient(retry_after).
        client.http.max_ratelimit_timeout = MAX_INLINE_RATE_LIMIT_WAIT
        self.limits = UploadLimits(client, max_upload_bytes, shared)
        self._deleted: set[str] = set()  # status messages found deleted (10008 on edit)

    # -- upload limits -------------------------------------------------------------------------
    def learn_limit(self, workspace_id: str, limit: int) -> None:
        self.limits.learn(workspace_id, limit)

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
            await open_thread(self._client.http, target, message, thread_name(view))
        return str(message.id)

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        channel = self._channel(target.thread_id or target.channel_id, target)
        components = buttons_view(view.buttons)
        try:
            with translated("editing the status message"):
                await channel.get_partial_message(int(message_id)).edit(
                    embed=status_embed(view), view=components, allowed_mentions=_NO_MENTIONS
                )
        except DeliveryError as err:
            cause = err.__cause__
            if isinstance(cause, discord.NotFound) and cause.code in (
                UNKNOWN_MESSAGE,
                UNKNOWN_CHANNEL,
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
        limit = await self.limits.for_target(target)
        if delivery.size > limit:
            # Preflight: a 40005 round trip would only waste the upload (and the user's time).
            raise DeliveryError(
                f"the video is {delivery.size / 2**20:.1f} MB, over this server's "
                f"{limit / 2**20:.0f} MB upload limit"
            )
        posted = await self._find_posted(target, status_message_id, delivery)
        if posted:
            return posted
        # Marked before sending: a later attempt then also looks in the channel, where the
        # video lands when the thread cannot take it (a DM, no thread permission).
        anchor = discord.utils.time_snowflake(discord.utils.utcnow() - _CLOCK_MARGIN)
        await checkpoint(f"{_SENDING}{anchor}")
        content = f"<@{target.user_id}> " + inert(delivery.caption, 1970)
        mentions = requester_only(target)

        async def send(channel: discord.PartialMessageable, reply: bool) -> discord.Message:
            file = discord.File(delivery.path, filename=delivery.filename)
            reference = reply_reference(target, status_message_id) if reply else None
            if reference is None:
                return await channel.send(
                    content, file=file, nonce=delivery.key, allowed_mentions=mentions
                )
            return await channel.send(
                content,
                file=file,
                nonce=delivery.key,
                allowed_mentions=mentions,
                reference=reference,
                mention_author=False,
            )

        message = await send_in_thread(target, status_message_id, "the video", send, self._channel)
        return f"{message.channel.id}/{message.id}"

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        content = f"<@{target.user_id}> " + inert(text, 1970)
        mentions = requester_only(target)

        async def send(channel: discord.PartialMessageable, reply: bool) -> discord.Message:
            reference = reply_reference(target, status_message_id) if reply else None
            if reference is None:
                return await channel.send(content, nonce=key, allowed_mentions=mentions)
            return await channel.send(
                content,
                nonce=key,
                allowed_mentions=mentions,
                reference=reference,
                mention_author=False,
            )

        message = await send_in_thread(target, status_message_id, "the link", send, self._channel)
        return f"{message.channel.id}/{message.id}"

    # -- helpers -------------------------------------------------------------------------------
    def _channel(self, channel_id: str, target: ReplyTarget) -> discord.PartialMessageable:
        if self._client.user is None or self._client.is_closed():
            raise DeliveryTransient("not connected to Discord yet", timedelta(seconds=5))
        guild_id = int(target.workspace_id) if target.workspace_id.isdigit() else None
        return self._client.get_partial_messageable(int(channel_id), guild_id=guild_id)

    async def _find_posted(
        self, target: ReplyTarget, status_message_id: str | None, delivery: Delivery
    ) -> str | None:
        """Reconcile after a crash or a lost answer: the nonce only de-duplicates for a few
        minutes, so look for our own message carrying this task's file name in the thread and,
        if an earlier attempt got as far as sending, in the channel since that attempt."""

        def ours(message: discord.Message) -> bool:
            return any(a.filename == delivery.filename for a in message.attachments)

        thread_id = target.thread_id or status_message_id
        if thread_id is not None and not in_dm(target):
            found = await self._find_own(thread_id, target, ours)
            if found is not None:
                return f"{found.channel.id}/{found.id}"
        resume = delivery.resume_ref or ""
        if resume.startswith(_SENDING) and thread_id != target.channel_id:
            since = discord.Object(int(resume.removeprefix(_SENDING)))
            found = await self._find_own(target.channel_id, target, ours, after=since)
            if found is not None:
                return f"{found.channel.id}/{found.id}"
        return None

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
            await open_thread(self._client.http, target, found, f"videobot {match.group(1)}")
        return str(found.id)

    async def _find_own(
        self,
        channel_id: str,
        target: ReplyTarget,
        matches: Callable[[discord.Message], bool],
        after: discord.abc.Snowflake | None = None,
    ) -> discord.Message | None:
        """Our own message in a channel or thread that `matches`: the most recent one, or with
        `after`, the first one after that point."""
        if self._client.user is None:
            return None
        me = self._client.user.id
        channel = self._channel(channel_id, target)
        try:
            async for message in channel.history(limit=RECONCILE_DEPTH, after=after):
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


__all__ = ["DEFAULT_UPLOAD_LIMIT", "DiscordChat"]
