"""Discord renders markdown in message content and embeds, masked links `[label](url)`
included: a prompt, a user's nickname or a provider's error text must show as typed, never as a
link, a code fence that swallows the rest of the message, a spoiler or emphasis."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import re

from bot.domain import TaskState
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered

HOSTILE = "[FREE NITRO](https://evil.example/steal) ``` **bold** ||spoiler|| a fox"
# Live markdown: a masked link, a fence, emphasis or a spoiler not preceded by a backslash.
LIVE = re.compile(r"(?<!\\)\[FREE NITRO(?<!\\)\]\(|(?<!\\)```|(?<!\\)\*\*bold|(?<!\\)\|\|spoiler")


async def test_a_hostile_prompt_renders_as_typed_in_every_public_post(bot: DiscordBot) -> None:
    await answered(bot, p.slash("video", [p.option("prompt", HOSTILE)]))
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    public = [
        s
        for s in bot.fake.sent
        if s.method in ("POST", "PATCH")
        and "/channels/" in s.path
        and not s.path.endswith("/threads")  # thread names render no markdown
    ]
    texts = [text for s in public for text in strings(s.body)]
    assert any("FREE NITRO" in t for t in texts)  # the prompt is shown...
    assert [t for t in texts if LIVE.search(t)] == []  # ...but never as markdown


def strings(value: object) -> list[str]:
    """Every string in a JSON body (content, embed descriptions, ...)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []
