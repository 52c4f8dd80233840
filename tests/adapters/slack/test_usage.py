"""`/video usage` in Slack, through the fake Slack: the requester's spend from the ledger, in an
ephemeral answer; `usage all` refused to someone who is not an admin."""

from __future__ import annotations

from bot.domain import ReplyTarget
from tests.bot.test_reports import spend
from tests.fakes.slack_harness import USER, SlackHarness
from tests.fakes.slack_server import TEAM


async def test_usage_answers_the_requester_with_their_spend(slack: SlackHarness) -> None:
    await spend(slack.ledger, ReplyTarget("slack", TEAM, "C0GENERAL", USER), "0.72", slack.clock)
    await slack.command("usage")
    (answer,) = await slack.wait_responses(1)
    assert answer["text"].startswith("You have spent $0.72 today and $0.72 this month")
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    await slack.command("usage all")
    answers = await slack.wait_responses(2)
    assert "Only admins can see everyone's spending" in answers[-1]["text"]
    assert len(await slack.tasks()) == 1  # the seeded task: neither was read as a prompt
