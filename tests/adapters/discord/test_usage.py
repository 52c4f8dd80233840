"""`/videobot usage [everyone]` through the fake Discord: the member's spend from the ledger
in an ephemeral follow-up; everyone's refused to a member who is not an admin."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
from bot.domain import ReplyTarget
from tests.bot.test_reports import spend
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered


def usage(everyone: bool | None = None) -> p.Json:
    options = [] if everyone is None else [p.option("everyone", everyone, otype=5)]
    return p.slash("videobot", [p.subcommand("usage", options)])


async def test_usage_answers_the_member_with_their_spend(bot: DiscordBot) -> None:
    member = ReplyTarget("discord", str(p.GUILD_ID), str(p.CHANNEL_ID), str(p.USER_ID))
    await spend(bot.ledger, member, "1.20", bot.clock)
    text = await answered(bot, usage())
    assert text.startswith("You have spent $1.20 today and $1.20 this month")
    assert "Only admins" in await answered(bot, usage(everyone=True))
    assert len(await bot.tasks()) == 1  # the seeded task: neither was read as a prompt
