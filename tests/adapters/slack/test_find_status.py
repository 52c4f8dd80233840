"""How a restarted worker finds the status messages it posted before a crash, inside what
Slack allows a distributed app that is not in the Marketplace: conversations.history and
.replies return at most 15 messages and answer one call a minute. One small read per
conversation serves every task in it; the lookup is by the message metadata the post carried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.chat import HISTORY_LIMIT, SlackChat
from bot.domain import ReplyTarget
from tests.adapters.slack.test_chat import view
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import CHANNEL
from tests.fakes.slack_server import BOT_TOKEN, TEAM, FakeSlack

TARGET = ReplyTarget("slack", TEAM, CHANNEL, "U0ALICE")


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(clock.monotonic).start()
    server.history_cap = 15  # and one read a minute
    yield server
    await server.close()


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)


async def test_one_small_read_finds_every_status_message_of_a_channel_after_a_restart(
    fake: FakeSlack, client: AsyncWebClient, clock: FakeClock
) -> None:
    before = SlackChat(client, clock=clock.monotonic)
    posted = {}
    for i in range(3):
        key = f"vbTASK{i}s"
        posted[key] = await before.post_status(TARGET, view(ref=f"TASK{i}"), key)
        await client.chat_postMessage(channel=CHANNEL, text=f"people talking {i}")
    after = SlackChat(client, clock=clock.monotonic)  # the restarted process
    for key, ts in posted.items():
        assert await after.find_status(TARGET, key) == ts
    assert await after.find_status(TARGET, "vbNEVERs") is None
    (read,) = fake.named("conversations.history")
    assert int(read.params["limit"]) == HISTORY_LIMIT == 15
    assert str(read.params["include_all_metadata"]).lower() in ("1", "true")
    clock.advance(61)  # a minute later Slack takes a new read, and a missing key asks for one
    assert await after.find_status(TARGET, "vbNEVER2s") is None
    assert len(fake.named("conversations.history")) == 2
    assert not [c for c in fake.calls if c.method.startswith("conversations") and c.team is None]


async def test_a_post_since_the_last_read_is_looked_for_again_not_assumed_missing(
    fake: FakeSlack, client: AsyncWebClient, clock: FakeClock
) -> None:
    chat = SlackChat(client, clock=clock.monotonic)
    assert await chat.find_status(TARGET, "vbLATERs") is None
    clock.advance(61)
    ts = await chat.post_status(TARGET, view(ref="LATER"), "vbLATERs")
    assert await chat.find_status(TARGET, "vbLATERs") == ts


async def test_a_threads_status_message_is_among_its_first_replies(
    fake: FakeSlack, client: AsyncWebClient, clock: FakeClock
) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="@videobot a fox")
    thread = ReplyTarget("slack", TEAM, CHANNEL, "U0ALICE", thread_id=str(root["ts"]))
    chat = SlackChat(client, clock=clock.monotonic)
    ts = await chat.post_status(thread, view(ref="THREAD"), "vbTHREADs")
    for i in range(20):  # a busy thread afterwards
        await client.chat_postMessage(channel=CHANNEL, thread_ts=str(root["ts"]), text=f"{i}")
    restarted = SlackChat(client, clock=clock.monotonic)
    assert await restarted.find_status(thread, "vbTHREADs") == ts
    (read,) = fake.named("conversations.replies")
    assert int(read.params["limit"]) == 15
