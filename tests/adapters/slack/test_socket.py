"""The same /video through Socket Mode: the adapter opens the websocket the fake Slack's
apps.connections.open hands out, acks each envelope, and a redelivered envelope makes no
second task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.simulator.server import RunningSimulator
from bot.domain import TaskState
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import CHANNEL, USER, SlackHarness, slack_harness
from tests.fakes.slack_server import APP_TOKEN, TEAM


@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    provider = make_provider(http, sim.url)
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=provider,
        policy=TEST_POLICY,
        socket_mode=True,
    ) as harness:
        yield harness


def envelope(envelope_id: str, text: str, trigger_id: str, hook: str) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": CHANNEL,
            "channel_name": "general",
            "user_id": USER,
            "user_name": "alice",
            "command": "/video",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": hook,
            "trigger_id": trigger_id,
        },
    }


async def test_slash_command_through_socket_mode_is_acked_and_delivered(
    slack: SlackHarness,
) -> None:
    opened = slack.fake.named("apps.connections.open")
    assert len(opened) == 1 and opened[0].auth == f"Bearer {APP_TOKEN}"
    hook = f"{slack.fake.url}/response/sock"
    await slack.fake.socket_send(envelope("env-1", "a fox in snow --ar 9:16", "trig.s1", hook))
    (reply,) = await slack.wait_responses(1)
    assert "Got it" in reply["text"]
    await slack.fake.wait_for(lambda: bool(slack.fake.socket_acks))
    assert [a["envelope_id"] for a in slack.fake.socket_acks] == ["env-1"]

    # Slack redelivers an envelope it saw no ack for: same trigger, new envelope id.
    await slack.fake.socket_send(envelope("env-2", "a fox in snow --ar 9:16", "trig.s1", hook))
    replies = await slack.wait_responses(2)
    assert "Already on it" in replies[1]["text"]
    await slack.fake.wait_for(lambda: len(slack.fake.socket_acks) == 2)

    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.DELIVERED and task.request.aspect_ratio == "9:16"
    (complete,) = slack.fake.named("files.completeUploadExternal")
    assert complete.params["thread_ts"] == task.status_message_id
