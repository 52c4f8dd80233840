"""Access refusals at the platform edge: a Slack or Discord request from a channel or a user
outside the allowlist, or over the daily cap, is answered at once, ephemerally and politely
(the limit, and when it resets), and records nothing: no task, nothing sent to the provider."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.simulator.server import RunningSimulator
from bot import messages
from bot.access import AccessPolicy
from bot.domain import TaskState
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import DiscordBot, discord_bot
from tests.fakes.slack_harness import CHANNEL, USER, SlackHarness, slack_harness
from tests.fakes.slack_server import BOT_USER

# The fake clock starts at 12:00 UTC: the daily cap resets in 12 hours.
RESETS = "It resets at 00:00 UTC (in 12h 00m). Nothing was charged for this request."
BOB, MALLORY, ELSEWHERE = "U0BOB", "U0MALLORY", "C0RANDOM"


# -- Slack -------------------------------------------------------------------------------------
@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    access = AccessPolicy(
        daily_limit=2,
        allowed_channels=frozenset({CHANNEL}),
        allowed_users=frozenset({USER, f"slack:{BOB}"}),
    )
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=make_provider(http, sim.url),
        policy=TEST_POLICY,
        access=access,
    ) as harness:
        yield harness


async def slack_answer(slack: SlackHarness, text: str, **kw: str) -> dict[str, object]:
    before = len(slack.responses())
    started = time.monotonic()
    response = await slack.command(text, **kw)
    assert response.status_code == 200  # acked
    answers = await slack.wait_responses(before + 1)
    assert time.monotonic() - started < 2.0  # at once: nothing waits for the worker
    return answers[-1]


async def test_slack_refuses_other_channels_and_users_politely_and_records_nothing(
    slack: SlackHarness,
) -> None:
    elsewhere = await slack_answer(slack, "a fox in the snow", channel=ELSEWHERE)
    stranger = await slack_answer(slack, "a fox in the snow", user=MALLORY)
    for answer, text in ((elsewhere, messages.CHANNEL_NOT_ALLOWED),
                         (stranger, messages.USER_NOT_ALLOWED)):  # fmt: skip
        assert answer["response_type"] == "ephemeral"
        assert answer["text"] == f"⚠️ {text}"
    # A mention in a channel outside the allowlist: an ephemeral note, no task either.
    mention = {
        "type": "app_mention",
        "user": USER,
        "text": f"<@{BOT_USER}> a fox",
        "ts": "1690000001.000100",
        "channel": ELSEWHERE,
        "event_ts": "1690000001.0001",
    }
    await slack.event(mention, "Ev0ELSEWHERE")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    (note,) = slack.fake.named("chat.postEphemeral")
    assert note.params["user"] == USER and note.params["channel"] == ELSEWHERE
    assert note.params["text"] == f"⚠️ {messages.CHANNEL_NOT_ALLOWED}"

    assert await slack.settle() == []
    await slack.run_until_idle()
    assert slack.sim.simulator.stats.requests == 0
    assert not slack.fake.named("chat.postMessage")


async def test_slack_daily_cap_is_answered_with_the_limit_and_the_reset_time(
    slack: SlackHarness,
) -> None:
    for n in range(2):
        answer = await slack_answer(slack, f"a fox, take {n}")
        assert "Got it: task" in str(answer["text"])
    over = await slack_answer(slack, "a fox, take 3")
    assert over["response_type"] == "ephemeral"
    assert "You have made 2 videos today, the daily limit here." in str(over["text"])
    assert RESETS in str(over["text"])
    bob = await slack_answer(slack, "a fox for bob", user=BOB)  # the cap is per user
    assert "Got it: task" in str(bob["text"])

    await slack.run_until_idle()
    tasks = await slack.tasks()
    assert sorted(t.request.prompt for t in tasks) == [
        "a fox for bob", "a fox, take 0", "a fox, take 1",
    ]  # fmt: skip
    assert {t.state for t in tasks} == {TaskState.DELIVERED}
    assert slack.sim.simulator.stats.tasks_created == 3


# -- Discord -----------------------------------------------------------------------------------
OTHER_ID = p.CHANNEL_ID + 9
THREAD_ID = p.CHANNEL_ID + 11


@pytest.fixture
async def bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    access = AccessPolicy(
        daily_limit=2,
        allowed_workspaces=frozenset({str(p.GUILD_ID)}),
        allowed_channels=frozenset({str(p.CHANNEL_ID)}),
    )
    async with discord_bot(
        tmp_path, clock, sim, ledger=ledger, http=http, policy=TEST_POLICY, access=access
    ) as running:
        yield running


async def discord_answer(
    bot: DiscordBot, prompt: str, channel: p.Json, guild_id: int = p.GUILD_ID
) -> str:
    """The ephemeral answer to `/video prompt` sent from `channel` (in `guild_id`)."""
    payload = p.slash("video", [p.option("prompt", prompt)], channel=channel)
    payload["guild_id"] = channel["guild_id"] = str(guild_id)
    before = len(bot.fake.followups)
    started = time.monotonic()
    await bot.fake.interact(payload)
    await bot.fake.wait_for(lambda: len(bot.fake.followups) > before)
    assert time.monotonic() - started < 2.0
    callback = bot.fake.callback_for(payload)
    assert callback is not None and callback.type == 5 and callback.data["flags"] & 64
    answer = bot.fake.followups[-1]
    assert answer["flags"] & 64  # ephemeral: only the requester sees it
    return str(answer["content"])


async def test_discord_refuses_guilds_and_channels_outside_the_allowlist_politely(
    bot: DiscordBot,
) -> None:
    text = await discord_answer(bot, "a fox in the snow", p.text_channel(OTHER_ID))
    assert text == messages.CHANNEL_NOT_ALLOWED
    # A thread of the allowed channel is that channel: allowed, and answered in the thread.
    thread = p.thread_channel(THREAD_ID, p.CHANNEL_ID, "fox ideas")
    text = await discord_answer(bot, "a fox in a thread", thread)
    assert "Got it: task" in text
    (task,) = await bot.tasks()
    assert task.target.channel_id == str(p.CHANNEL_ID)
    assert task.target.thread_id == str(THREAD_ID)
    # A thread of another channel is not.
    elsewhere = p.thread_channel(THREAD_ID + 1, OTHER_ID, "fox ideas")
    assert await discord_answer(bot, "a fox", elsewhere) == messages.CHANNEL_NOT_ALLOWED
    # Another server (guild) altogether, even with a channel id that is allowed elsewhere.
    other_guild = await discord_answer(bot, "a fox", p.text_channel(), guild_id=p.GUILD_ID + 1)
    assert other_guild == messages.WORKSPACE_NOT_ALLOWED
    assert len(await bot.tasks()) == 1
    assert bot.sim.simulator.stats.requests == 0


async def test_discord_daily_cap_is_answered_with_the_limit_and_the_reset_time(
    bot: DiscordBot,
) -> None:
    channel = p.text_channel()
    for n in range(2):
        assert "Got it: task" in await discord_answer(bot, f"a fox, take {n}", channel)
    over = await discord_answer(bot, "a fox, take 3", channel)
    assert "You have made 2 videos today, the daily limit here." in over and RESETS in over

    await bot.run_until_idle()
    tasks = await bot.tasks()
    assert len(tasks) == 2 and {t.state for t in tasks} == {TaskState.DELIVERED}
    assert bot.sim.simulator.stats.tasks_created == 2
