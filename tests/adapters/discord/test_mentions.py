"""A prompt is inert on Discord: every message, edit, follow-up and interaction response the
bot sends names who may be pinged, and that is at most the requester, never a user or role
the prompt mentions, nor everyone or here."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import re

from bot.domain import TaskState
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered
from tests.fakes.discord_wire import Sent

OTHER_ID = p.USER_ID + 7
ROLE_ID = p.GUILD_ID + 9
HOSTILE = f"<@{OTHER_ID}> and <@!{OTHER_ID}> and <@&{ROLE_ID}>, @everyone @here: a fox"
# Requests that carry no message text, so nothing in them can ping: a deferral (type 5) or a
# form (type 9) answering an interaction, a thread name, the command list.
_TEXTLESS_CALLBACKS = {5, 9}
_CALLBACK = re.compile(r"/interactions/\d+/[^/]+/callback$")


def mentions_of(sent: Sent) -> dict[str, object] | None:
    """The allowed_mentions a request carries; None for a request that posts no text."""
    body = sent.body
    if not isinstance(body, dict) or sent.method == "GET":
        return None
    if sent.path.endswith("/threads") or sent.path.endswith("/commands"):
        return None
    if _CALLBACK.search(sent.path):
        if body["type"] in _TEXTLESS_CALLBACKS:
            assert "content" not in (body.get("data") or {}), body
            return None
        body = body.get("data") or {}
    assert "allowed_mentions" in body, f"{sent.method} {sent.path} names no allowed_mentions"
    allowed: dict[str, object] = body["allowed_mentions"]
    return allowed


def assert_pings_at_most_the_requester(bot: DiscordBot) -> int:
    checked = 0
    for sent in bot.fake.sent:
        allowed = mentions_of(sent)
        if allowed is None:
            continue
        checked += 1
        where = f"{sent.method} {sent.path}: {allowed}"
        parse = set(allowed.get("parse") or [])  # type: ignore[call-overload]
        assert not parse & {"everyone", "roles", "users"}, where
        users = {str(u) for u in allowed.get("users") or []}  # type: ignore[attr-defined]
        assert users <= {str(p.USER_ID)}, where
        assert not allowed.get("roles"), where
    return checked


async def test_a_prompt_full_of_mentions_pings_no_one_but_the_requester(bot: DiscordBot) -> None:
    await answered(bot, p.slash("video", [p.option("prompt", HOSTILE)]))
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    (posted,) = bot.fake.in_channel(task.status_message_id or "")
    assert f"<@{OTHER_ID}>" in posted["content"] and "@everyone" in posted["content"]
    assert posted["content"].startswith(f"<@{p.USER_ID}>")  # the requester is pinged

    # Its buttons, a mention with the same text, a menu answered at once, and a video over
    # the upload limit that is posted as a link.
    status = bot.fake.messages[task.status_message_id or ""]
    await answered(bot, p.button_press(f"vb:retry:{task.ref}", status))
    mention = p.message(p.CHANNEL_ID, p.user(), f"<@{p.BOT_ID}> {HOSTILE}", mentions=[p.BOT_USER])
    before = len(bot.fake.in_channel(p.CHANNEL_ID))
    await bot.fake.dispatch("MESSAGE_CREATE", mention)
    await bot.fake.wait_for(lambda: len(bot.fake.in_channel(p.CHANNEL_ID)) > before)
    plain = p.message(p.CHANNEL_ID, p.user(), HOSTILE)
    assert "no image" in await answered(bot, p.message_command("Animate with videobot", plain))
    await answered(bot, p.slash("video", [p.option("prompt", HOSTILE)], size_limit=100_000))
    await bot.run_until_idle()
    links = [t for t in await bot.tasks() if t.state is TaskState.UNDELIVERABLE]
    assert links, [t.state for t in await bot.tasks()]

    assert assert_pings_at_most_the_requester(bot) >= 10
