"""Answers to one person: response_url replies and ephemeral messages. Most carry the user's
prompt, a file name or the video service's words, so every answer is escaped whole."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.mrkdwn import MESSAGE_TEXT, inert
from bot.domain import ReplyTarget

log = logging.getLogger("videobot.slack")

Blocks = list[dict[str, Any]]


class Answer(Protocol):
    """Says `text` to one person; `blocks` (buttons) go with it when given."""

    async def __call__(self, text: str, blocks: Blocks | None = None, /) -> None: ...


async def reply(respond: AsyncRespond, text: str, **extra: Any) -> None:
    """Through the interaction's response_url (valid 30 minutes), seen by its user only."""
    await respond(text=inert(text, MESSAGE_TEXT), response_type="ephemeral", **extra)


async def ephemeral(
    client: AsyncWebClient, target: ReplyTarget, text: str, blocks: Blocks | None = None
) -> None:
    await client.chat_postEphemeral(
        channel=target.channel_id,
        user=target.user_id,
        text=inert(text, MESSAGE_TEXT),
        thread_ts=target.thread_id,
        blocks=blocks,
    )


async def quietly(answer: Answer, text: str, blocks: Blocks | None = None) -> None:
    try:
        await answer(text, blocks)
    except Exception as err:  # answering is best effort; the status message tells the rest
        log.warning("could not answer in Slack: %s", type(err).__name__)
