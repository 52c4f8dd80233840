"""SlackChat: the core's Chat port on Slack's Web API. The status message is a channel message
(the thread root) edited with chat.update under a per-workspace budget; the MP4 goes into the
thread through the three-step external upload, with its file id checkpointed so a retry or a
restart completes the same file instead of posting a second one."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import status_blocks, status_text
from adapters.slack.budget import EditAllowance, EditBudget
from adapters.slack.errors import WorkspaceGone, bot_token, error_code, mapped
from adapters.slack.mrkdwn import MESSAGE_TEXT, inert, inert_but_mention
from adapters.slack.tokens import BotTokens, StaticToken
from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery

log = logging.getLogger("videobot.slack")

# A checkpointed file id with this suffix had its bytes accepted by the upload URL: only
# files.completeUploadExternal is left to do.
SENT = ":sent"
_GONE_ERRORS = frozenset({"file_not_found", "file_deleted"})
# What conversations.history / conversations.replies return at most to a distributed app that
# is not in the Slack Marketplace (which may call each once a minute).
HISTORY_LIMIT = 15
_FRESH = 60.0  # seconds a conversation's read answers for, in place of a second read
_REMEMBERED = 1_000  # conversations whose last read is kept
_UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, connect=15)
_COMMENT = 4_000


class SlackChat:
    """The Chat port on Slack: every call carries the bot token of the task's workspace."""

    def __init__(
        self,
        client: AsyncWebClient,
        budget: EditAllowance | None = None,
        tokens: BotTokens | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._budget: EditAllowance = budget or EditBudget()
        self._tokens = tokens or StaticToken(client.token or "")
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        # (workspace, channel, thread) -> when read, {status key: message ts}
        self._seen: OrderedDict[tuple[str, str, str], tuple[float, dict[str, str]]] = (
            OrderedDict()
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- status message ----------------------------------------------------------------------
    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        # A read of this conversation from before the post no longer tells whether it exists.
        self._seen.pop((target.workspace_id, target.channel_id, target.thread_id or ""), None)
        response = await self._call(
            "chat_postMessage",
            target,
            channel=target.channel_id,
            thread_ts=target.thread_id,
            text=status_text(view, _mention(target)),
            blocks=status_blocks(view, _mention(target)),
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "videobot_status", "event_payload": {"key": key}},
        )
        return str(response["ts"])

    async def find_status(self, target: ReplyTarget, key: str) -> str | None:
        """The status message posted under `key` before a crash, found by its metadata among
        the conversation's first (thread) or latest (channel) HISTORY_LIMIT messages; None
        when it was never posted. A read less than a minute old answers for every task in
        the same conversation: Slack allows a distributed app one such read a minute."""
        where = (target.workspace_id, target.channel_id, target.thread_id or "")
        seen = self._seen.get(where)
        if seen is None or (key not in seen[1] and self._clock() - seen[0] >= _FRESH):
            seen = (self._clock(), await self._status_keys(target))
            self._seen[where] = seen
            self._seen.move_to_end(where)
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
        return seen[1].get(key)

    async def _status_keys(self, target: ReplyTarget) -> dict[str, str]:
        if target.thread_id:
            response = await self._call(
                "conversations_replies",
                target,
                channel=target.channel_id,
                ts=target.thread_id,
                include_all_metadata=True,
                limit=HISTORY_LIMIT,
            )
        else:
            response = await self._call(
                "conversations_history",
                target,
                channel=target.channel_id,
                include_all_metadata=True,
                limit=HISTORY_LIMIT,
            )
        keys: dict[str, str] = {}
        for message in response.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key"):
                keys[str(payload["key"])] = str(message["ts"])
        return keys

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        wait = await self._budget.take(target.workspace_id, view.final)
        if wait is not None:
            # The worker skips a progress edit (the next poll renders again) and retries a final.
            raise DeliveryTransient("chat.update budget spent for this workspace", wait)
        await self._call(
            "chat_update",
            target,
            channel=target.channel_id,
            ts=message_id,
            text=status_text(view, _mention(target)),
            blocks=status_blocks(view, _mention(target)),
        )

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        response = await self._call(
            "chat_postMessage",
            target,
            channel=target.channel_id,
            thread_ts=target.thread_id or status_message_id,
            text=inert(text, MESSAGE_TEXT),  # the provider's link and failure reason
            unfurl_links=False,
            metadata={"event_type": "videobot_link", "event_payload": {"key": key}},
        )
        return str(response["ts"])

    # -- the video ---------------------------------------------------------------------------
    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        thread_ts = target.thread_id or status_message_id
        if delivery.resume_ref:
            done = await self._resume(target, thread_ts, delivery, delivery.resume_ref)
            if done is not None:
                return done
        got = await self._call(
            "files_getUploadURLExternal", target, filename=delivery.filename, length=delivery.size
        )
        file_id, upload_url = str(got["file_id"]), str(got["upload_url"])
        await checkpoint(file_id)
        await self._send_bytes(upload_url, delivery)
        await checkpoint(file_id + SENT)
        await self._complete(file_id, target, thread_ts, delivery)
        return file_id

    async def _resume(
        self, target: ReplyTarget, thread_ts: str | None, delivery: Delivery, ref: str
    ) -> str | None:
        """Finish an upload a crash or a failure interrupted; None means start afresh."""
        file_id = ref.removesuffix(SENT)
        try:
            info = await self._call("files_info", target, file=file_id)
        except DeliveryError as err:
            if isinstance(err, DeliveryTransient):
                raise  # cannot tell whether it was posted: never guess, try again later
            log.info("upload %s is gone (%s); uploading afresh", file_id, err)
            return None
        if _shared_in(info.get("file") or {}, target.channel_id):
            log.info("upload %s was already posted; not posting it again", file_id)
            return file_id
        if not ref.endswith(SENT):
            return None  # the bytes may never have arrived: a new upload URL is needed
        try:
            await self._complete(file_id, target, thread_ts, delivery)
        except DeliveryTransient:
            raise
        except DeliveryError as err:
            log.info("upload %s could not be completed (%s); uploading afresh", file_id, err)
            return None
        return file_id

    async def _send_bytes(self, url: str, delivery: Delivery) -> None:
        # The upload URL is pre-signed: it gets the bytes and never the bot token.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_UPLOAD_TIMEOUT, trust_env=False)
        try:
            with delivery.path.open("rb") as file:
                async with self._session.post(url, data=file, allow_redirects=False) as resp:
                    await resp.read()
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise DeliveryTransient(f"sending the video to Slack failed ({err})") from None
        if status == 429 or status >= 500:
            raise DeliveryTransient(f"Slack's upload URL answered {status}")
        if status != 200:
            raise DeliveryError(f"Slack's upload URL refused the video ({status})")

    async def _complete(
        self, file_id: str, target: ReplyTarget, thread_ts: str | None, delivery: Delivery
    ) -> None:
        await self._call(
            "files_completeUploadExternal",
            target,
            files=[{"id": file_id, "title": delivery.title}],
            channel_id=target.channel_id,
            thread_ts=thread_ts,
            initial_comment=inert_but_mention(delivery.caption, _mention(target), _COMMENT),
        )

    # -- calls -------------------------------------------------------------------------------
    async def _call(self, method: str, target: ReplyTarget, **kwargs: Any) -> dict[str, Any]:
        """One Web API call with the bot token of `target`'s workspace, the SDK's errors
        mapped onto DeliveryError/DeliveryTransient."""
        token = await bot_token(self._tokens, target)
        try:
            response = await getattr(self._client, method)(token=token, **kwargs)
        except SlackApiError as err:
            raise mapped(method, err) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise DeliveryTransient(f"{method}: {type(err).__name__}") from None
        data = response.data
        return data if isinstance(data, dict) else {}



def _mention(target: ReplyTarget) -> str | None:
    """The requester's mention, the one live sequence in our text; None if the target's name
    is not exactly that user's mention."""
    mention = f"<@{target.user_id}>"
    return mention if target.user_name == mention else None


def _shared_in(file: dict[str, Any], channel_id: str) -> bool:
    shares = file.get("shares") or {}
    return any(channel_id in (shares.get(kind) or {}) for kind in ("public", "private"))


__all__ = [
    "HISTORY_LIMIT",
    "SENT",
    "EditAllowance",
    "EditBudget",
    "SlackChat",
    "WorkspaceGone",
    "error_code",
]
