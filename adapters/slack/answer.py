"""Answers to one person: response_url replies and ephemeral messages. Most carry the user's
prompt, a file name or the video service's words, so every answer is escaped whole."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import MESSAGE_TEXT, inert
from bot.domain import ReplyTarget

log = logging.getLogger("videobot.slack")

Answer = Callable[[str], Awaitable[None]]


async def reply(respond: AsyncRespond, text: str, **extra: Any) -> None:
    """Through the interaction's response_url (valid 30 minutes), seen by its user only."""
    await respond(text=inert(text, MESSAGE_TEXT), response_type="ephemeral", **extra)


async def ephemeral(client: AsyncWebClient, target: ReplyTarget, text: str) -> None:
    await client.chat_postEphemeral(
        channel=target.channel_id,
        user=target.user_id,
        text=inert(text, MESSAGE_TEXT),
        thread_ts=target.thread_id,
    )


async def quietly(answer: Answer, text: str) -> None:
    try:
        await answer(text)
    except Exception as err:  # answering is best effort; the status message tells the rest
        log.warning("could not answer in Slack: %s", type(err).__name__)
