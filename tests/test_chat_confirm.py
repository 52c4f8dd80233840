"""Confirmation above VIDEOBOT_CONFIRM_ABOVE on each chat platform, through the fake Slack and
the fake Discord: the question comes with Confirm and Cancel, nothing reaches the provider
before Confirm, a double Confirm is one task, Cancel makes nothing."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.simulator.server import RunningSimulator
from bot.domain import TaskState
from bot.pricing import micros
from bot.providers import PROVIDERS
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import DiscordBot, answered, discord_bot
from tests.fakes.slack_harness import SlackHarness, slack_harness

# The guide's gateway at $0.12 a second: 10 s is $1.20, above a $1.00 threshold; 6 s is not.
CONFIRMING = {"prices": PROVIDERS["guide"].prices, "confirm_above": micros(1)}
QUESTION = "This video would cost about $1.20; anything above $1.00 needs a confirmation here."


# -- Slack -------------------------------------------------------------------------------------
@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=make_provider(http, sim.url),
        policy=TEST_POLICY,
        service_options=CONFIRMING,
    ) as harness:
        yield harness


async def slack_says(slack: SlackHarness, send: Any) -> dict[str, Any]:
    before = len(slack.responses())
    await send
    return (await slack.wait_responses(before + 1))[-1]


async def test_slack_asks_with_buttons_and_makes_one_video_on_confirm(
    slack: SlackHarness,
) -> None:
    asked = await slack_says(slack, slack.command("a lighthouse in a storm --duration 10"))
    assert asked["response_type"] == "ephemeral" and str(asked["text"]).startswith(QUESTION)
    section, actions = asked["blocks"]
    assert section["text"]["text"].startswith(QUESTION)
    buttons = {b["action_id"]: b["value"] for b in actions["elements"]}
    assert set(buttons) == {"videobot_confirm", "videobot_dismiss"}
    ref = buttons["videobot_confirm"]
    await slack.run_until_idle()
    assert await slack.tasks() == [] and slack.sim.simulator.stats.requests == 0

    first = await slack_says(slack, slack.button("confirm", ref, "1700000000.000100"))
    assert str(first["text"]).startswith("Got it: task")
    assert first["replace_original"] is True and not first.get("blocks")  # buttons gone
    second = await slack_says(slack, slack.button("confirm", ref, "1700000000.000100"))
    assert str(second["text"]).startswith("Already on it: task")
    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.DELIVERED and task.estimate == micros("1.2")
    assert slack.sim.simulator.stats.tasks_created == 1

    cheap = await slack_says(slack, slack.command("a lighthouse at dawn --duration 6"))
    assert str(cheap["text"]).startswith("Got it: task") and "about $0.72" in str(cheap["text"])


async def test_slack_cancel_makes_nothing(slack: SlackHarness) -> None:
    asked = await slack_says(slack, slack.command("a lighthouse in a storm --duration 10"))
    ref = asked["blocks"][1]["elements"][0]["value"]
    cancelled = await slack_says(slack, slack.button("dismiss", ref, "1700000000.000200"))
    assert cancelled["text"] == "Cancelled: nothing was sent or charged."
    late = await slack_says(slack, slack.button("confirm", ref, "1700000000.000200"))
    assert "no longer waiting for a confirmation" in str(late["text"])
    await slack.run_until_idle()
    assert await slack.tasks() == [] and slack.sim.simulator.stats.requests == 0


# -- Discord -----------------------------------------------------------------------------------
@pytest.fixture
async def bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    async with discord_bot(
        tmp_path,
        clock,
        sim,
        ledger=ledger,
        http=http,
        policy=TEST_POLICY,
        service_options=CONFIRMING,
    ) as running:
        yield running


def video(prompt: str, seconds: int) -> p.Json:
    return p.slash("video", [p.option("prompt", prompt), p.option("duration", seconds, 4)])


async def test_discord_asks_with_buttons_and_makes_one_video_on_confirm(bot: DiscordBot) -> None:
    text = await answered(bot, video("a lighthouse in a storm", 10))
    assert text.startswith(QUESTION)
    question = bot.fake.followups[-1]
    (row,) = question["components"]
    ids = [b["custom_id"] for b in row["components"]]
    assert [i.rsplit(":", 1)[0] for i in ids] == ["vb:confirm", "vb:dismiss"]
    await bot.run_until_idle()
    assert await bot.tasks() == [] and bot.sim.simulator.stats.requests == 0

    # The ephemeral question as Discord hands it back with a press on one of its buttons.
    message = p.message(p.CHANNEL_ID, p.BOT_USER, text, components=question["components"])
    assert (await answered(bot, p.button_press(ids[0], message))).startswith("Got it: task")
    # The question itself becomes the outcome, its buttons gone.
    where, edit = bot.fake.edited[-1]
    assert where == "@original" and edit["content"].startswith("Got it: task")
    assert edit["components"] == []
    again = await answered(bot, p.button_press(ids[0], message))
    assert again.startswith("Already on it: task")
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED and bot.sim.simulator.stats.tasks_created == 1

    text = await answered(bot, video("a lighthouse at dusk", 10))
    rows = bot.fake.followups[-1]["components"]
    ids = [b["custom_id"] for b in rows[0]["components"]]
    message = p.message(p.CHANNEL_ID, p.BOT_USER, text, components=rows)
    assert await answered(bot, p.button_press(ids[1], message)) == (
        "Cancelled: nothing was sent or charged."
    )
    assert len(await bot.tasks()) == 1


async def test_discord_asks_again_with_buttons_for_a_dear_retry_flip_or_edit(
    bot: DiscordBot,
) -> None:
    text = await answered(bot, video("a lighthouse in a storm", 10))
    (row,) = bot.fake.followups[-1]["components"]
    question = p.message(p.CHANNEL_ID, p.BOT_USER, text, components=[row])
    await answered(bot, p.button_press(row["components"][0]["custom_id"], question))
    await bot.run_until_idle()
    task = await bot.only_task()
    status = bot.fake.messages[task.status_message_id or ""]
    presses = [
        p.button_press(f"vb:retry:{task.ref}", status),
        p.button_press(f"vb:flip:{task.ref}", status),
        p.slash("videobot", [p.subcommand("retry", [p.option("ref", task.ref)])]),
    ]
    for press in presses:
        asked = await answered(bot, press)
        assert asked.startswith(QUESTION), asked
        (buttons,) = bot.fake.followups[-1]["components"]
        ids = [b["custom_id"].rsplit(":", 1)[0] for b in buttons["components"]]
        assert ids == ["vb:confirm", "vb:dismiss"]
    assert len(await bot.tasks()) == 1  # nothing made before a Confirm


async def test_slack_asks_again_with_buttons_for_a_dear_retry(slack: SlackHarness) -> None:
    asked = await slack_says(slack, slack.command("a lighthouse in a storm --duration 10"))
    ref = asked["blocks"][1]["elements"][0]["value"]
    await slack_says(slack, slack.button("confirm", ref, "1700000000.000300"))
    await slack.run_until_idle()
    for send in (
        slack.button("retry", ref, "1700000000.000400"),
        slack.button("flip", ref, "1700000000.000500"),
        slack.command(f"retry {ref}"),
    ):
        again = await slack_says(slack, send)
        assert str(again["text"]).startswith(QUESTION), again
        buttons = {b["action_id"] for b in again["blocks"][1]["elements"]}
        assert buttons == {"videobot_confirm", "videobot_dismiss"}
    assert len(await slack.tasks()) == 1
