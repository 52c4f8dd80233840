"""SlackChat: the core's Chat port on Slack's Web API. The status message is a channel message
(the thread root) edited with chat.update under a per-workspace budget; the MP4 goes into the
thread through the three-step external upload, with its file id checkpointed so a retry or a
restart completes the same file instead of posting a second one."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import status_blocks, status_text
from adapters.slack.mrkdwn import MESSAGE_TEXT, inert, inert_but_mention
from bot.domain import ReplyTarget
from bot.errors import DeliveryError, DeliveryTransient, MessageGone
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery

log = logging.getLogger("videobot.slack")

# A checkpointed file id with this suffix had its bytes accepted by the upload URL: only
# files.completeUploadExternal is left to do.
SENT = ":sent"
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_GONE_ERRORS = frozenset({"file_not_found", "file_deleted"})
_WINDOW = 60.0
_UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=600, connect=15)
_COMMENT = 4_000


class EditAllowance(Protocol):
    """Where chat.update calls are counted: this process (EditBudget), or a database shared by
    every worker process (storage/postgres/edits.py), since Slack's limit is per workspace."""

    async def take(self, workspace_id: str, final: bool) -> timedelta | None:
        """Spend one edit; returns None if allowed, else how long until one is available."""
        ...


class EditBudget:
    """chat.update calls per workspace in any rolling minute (Tier 3: ~50 per workspace, shared
    by every task). Progress edits may use `progress_share` of it, so final edits (which the
    worker retries until shown) still find room when many tasks render at once."""

    def __init__(
        self,
        per_minute: int = 50,
        progress_share: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = per_minute
        self._progress_limit = int(per_minute * progress_share)
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    async def take(self, workspace_id: str, final: bool) -> timedelta | None:
        """Spend one edit; returns None if allowed, else how long until one is available."""
        now = self._clock()
        sent = self._sent.setdefault(workspace_id, deque())
        while sent and sent[0] <= now - _WINDOW:
            sent.popleft()
        limit = self._limit if final else self._progress_limit
        if len(sent) >= limit:
            return timedelta(seconds=max(0.1, sent[len(sent) - limit] + _WINDOW - now))
        sent.append(now)
        return None


class SlackChat:
    """The Chat port for one Slack workspace's bot token."""

    def __init__(self, client: AsyncWebClient, budget: EditAllowance | None = None) -> None:
        self._client = client
        self._budget: EditAllowance = budget or EditBudget()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- status message ----------------------------------------------------------------------
    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        response = await self._call(
            "chat_postMessage",
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
        the channel's (or thread's) latest messages; None when it was never posted."""
        if target.thread_id:
            response = await self._call(
                "conversations_replies",
                channel=target.channel_id,
                ts=target.thread_id,
                include_all_metadata=True,
                limit=200,
            )
        else:
            response = await self._call(
                "conversations_history",
                channel=target.channel_id,
                include_all_metadata=True,
                limit=100,
            )
        for message in response.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return str(message["ts"])
        return None

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        wait = await self._budget.take(target.workspace_id, view.final)
        if wait is not None:
            # The worker skips a progress edit (the next poll renders again) and retries a final.
            raise DeliveryTransient("chat.update budget spent for this workspace", wait)
        await self._call(
            "chat_update",
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
            "files_getUploadURLExternal", filename=delivery.filename, length=delivery.size
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
            info = await self._call("files_info", file=file_id)
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
            files=[{"id": file_id, "title": delivery.title}],
            channel_id=target.channel_id,
            thread_ts=thread_ts,
            initial_comment=inert_but_mention(delivery.caption, _mention(target), _COMMENT),
        )

    # -- errors ------------------------------------------------------------------------------
    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call, with the SDK's errors mapped onto DeliveryError/DeliveryTransient."""
        try:
            response = await getattr(self._client, method)(**kwargs)
        except SlackApiError as err:
            raise _mapped(method, err) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
            raise DeliveryTransient(f"{method}: {type(err).__name__}") from None
        data = response.data
        return data if isinstance(data, dict) else {}


def _mapped(method: str, err: SlackApiError) -> DeliveryError:
    response = err.response
    status = int(getattr(response, "status_code", 200) or 200)
    code = error_code(err)
    if status == 429 or code == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        wait = _retry_after(headers)
        return DeliveryTransient(f"{method}: rate limited by Slack", wait)
    if status >= 500 or code in _TRANSIENT_ERRORS:
        return DeliveryTransient(f"{method}: Slack answered {status} {code}".rstrip())
    if method == "chat_update" and code == "message_not_found":
        # Someone deleted the status message: the board posts a new one instead of editing a
        # message that is gone on every later progress and final edit.
        return MessageGone(f"{method}: {code}")
    return DeliveryError(f"{method}: {code or status}")


def error_code(err: SlackApiError) -> str:
    """Slack's `error` field; empty when the body was not JSON (a proxy's 502 page, say)."""
    data = getattr(err.response, "data", None)
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _retry_after(headers: dict[str, Any]) -> timedelta:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return timedelta(seconds=max(1, int(str(raw))))
            except ValueError:
                break
    return timedelta(seconds=30)


def _mention(target: ReplyTarget) -> str | None:
    """The requester's mention, the one live sequence in our text; None if the target's name
    is not exactly that user's mention."""
    mention = f"<@{target.user_id}>"
    return mention if target.user_name == mention else None


def _shared_in(file: dict[str, Any], channel_id: str) -> bool:
    shares = file.get("shares") or {}
    return any(channel_id in (shares.get(kind) or {}) for kind in ("public", "private"))


__all__ = ["SENT", "EditAllowance", "EditBudget", "SlackChat", "error_code"]
