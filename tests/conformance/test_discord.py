"""Discord conformance: what the bot sends, checked against what Discord publishes
(shared/specs/discord_openapi.json), not against our fake's idea of it. Every Discord test
under tests/adapters/discord/ is checked the same way by an autouse fixture there; this
module adds the worst case a user can type, and proves the check bites."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import pytest

from adapters.discord.setup import sync_commands
from bot.domain import TaskState
from tests.conformance.discord_contract import (
    DOCUMENTED_CONTENT_LIMIT,
    assert_conforms,
    problems,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered, modal_for
from tests.fakes.discord_wire import Sent

_PIECES = (
    "🦊🎬👨‍👩‍👧‍👦 a fox\nin the snow\r\n",
    f"<@{p.USER_ID + 7}> <@!{p.USER_ID + 7}> <@&{p.GUILD_ID + 9}> <#{p.CHANNEL_ID}> ",
    "<!channel> <!here> @everyone @here ",
    "[https://discord.com/login](https://evil.example/steal) <https://evil.example> ",
    "**bold** __under__ ~~gone~~ ||spoiler|| `code` ```py\nprint(1)\n``` # Heading\n> quote\n",
    "-# small\n1. list\n- item\n\\*escaped\\* ",
)


def worst_prompt(length: int) -> str:
    """A prompt of exactly `length` characters, all of it hostile or awkward."""
    text = "".join(_PIECES)
    while len(text) < length:
        text += "".join(_PIECES)
    return text[:length]


async def test_the_worst_prompt_at_the_length_cap_sends_only_what_discord_accepts(
    bot: DiscordBot,
) -> None:
    cap = bot.settings.prompt_max_chars
    prompt = worst_prompt(cap)
    assert len(prompt) == cap and "@everyone" in prompt and "\n" in prompt

    # /video with it: status message, its thread, edits, the upload.
    assert (await answered(bot, p.slash("video", [p.option("prompt", prompt)]))).startswith(
        "Got it"
    )
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    assert "@everyone" in task.request.prompt and "||spoiler||" in task.request.prompt
    status = bot.fake.messages[task.status_message_id or ""]

    # Its buttons, the Edit form sent with the longest instruction it takes.
    await answered(bot, p.button_press(f"vb:flip:{task.ref}", status))
    modal_id, input_id = await modal_for(bot, p.button_press(f"vb:edit:{task.ref}", status))
    await answered(bot, p.modal_submit(modal_id, {input_id: prompt}))
    # A mention carrying as much of it as a Discord message holds; the task verbs.
    mention = f"<@{p.BOT_ID}> " + worst_prompt(DOCUMENTED_CONTENT_LIMIT - len(f"<@{p.BOT_ID}> "))
    message = p.message(p.CHANNEL_ID, p.user(), mention, mentions=[p.BOT_USER])
    seen = len(bot.fake.in_channel(p.CHANNEL_ID))
    await bot.fake.dispatch("MESSAGE_CREATE", message)
    await bot.fake.wait_for(lambda: len(bot.fake.in_channel(p.CHANNEL_ID)) > seen)
    for verb in ("list", "help"):
        await answered(bot, p.slash("videobot", [p.subcommand(verb)]))
    await answered(bot, p.slash("videobot", [p.subcommand("status", [p.option("ref", task.ref)])]))
    # And a result over the upload limit, posted as a link.
    await answered(bot, p.slash("video", [p.option("prompt", prompt)], size_limit=100_000))
    await bot.run_until_idle()
    states = {t.state for t in await bot.tasks()}
    assert TaskState.UNDELIVERABLE in states and TaskState.DELIVERED in states
    await sync_commands(bot.settings)

    seen_ops = {(op.method, op.template) for op in assert_conforms(bot.fake.sent)}
    assert seen_ops >= {
        ("POST", "/interactions/{interaction_id}/{interaction_token}/callback"),
        ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
        ("POST", "/channels/{channel_id}/messages"),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
        ("POST", "/channels/{channel_id}/messages/{message_id}/threads"),
        ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"),
    }, seen_ops
    uploads = [s for s in bot.fake.sent if s.files]
    assert uploads and all(problems(s) == [] for s in uploads)  # multipart payload_json too


_CREATE = "/api/v10/channels/1300000000000000200/messages"
_CALLBACK = "/api/v10/interactions/1300000000000000900/a-token/callback"


@pytest.mark.parametrize(
    ("sent", "complaint"),
    [
        (Sent("POST", _CREATE, {"content": "x" * 2001}), "is too long"),
        (Sent("POST", _CREATE, {"content": "hi", "allowed_mention": {"parse": []}}),
         "allowed_mention: not a field"),
        (Sent("POST", _CREATE, {"content": "hi", "nonce": "n" * 26}), "nonce"),
        (Sent("POST", _CREATE, {"embeds": [{"title": "t" * 257}]}), "embeds/0/title"),
        (Sent("POST", _CREATE, {"allowed_mentions": {"parse": ["users", "users"]}}),
         "non-unique"),
        (Sent("POST", _CREATE, {"embeds": [{"description": "d" * 4096, "title": "t" * 256},
                                       {"description": "d" * 2000}]}),
         "6000"),
        (Sent("POST", _CREATE, {"content": "a video"}, files=["files[0]"]), None),
        (Sent("POST", _CREATE, {"content": "x" * 2001}, files=["files[0]"]), "is too long"),
        (Sent("PATCH", _CREATE + "/1300000000000000201", {"content": 7}), "is not of type"),
        (Sent("POST", _CREATE + "/1300000000000000201/threads", {"name": "n" * 101}),
         "name: "),
        (Sent("POST", _CALLBACK, {"type": 4, "data": {"content": "x" * 2001}}),
         "data/content"),
        (Sent("POST", _CALLBACK, {"type": 5, "data": {"flags": 64}}), None),
    ],
)  # fmt: skip
def test_a_body_that_breaks_the_published_contract_is_caught(
    sent: Sent, complaint: str | None
) -> None:
    found = problems(sent)
    if complaint is None:
        assert found == []
    else:
        assert any(complaint in problem for problem in found), found


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ({"limit": "50", "after": "1300000000000000201"}, None),
        ({"limit": "500"}, "?limit=500"),
        ({"after": "yesterday"}, "?after=yesterday"),
        ({"newest": "1"}, "?newest: not a query parameter"),
    ],
)
def test_a_query_that_breaks_the_published_contract_is_caught(
    query: dict[str, str], complaint: str | None
) -> None:
    found = problems(Sent("GET", _CREATE, query=query))
    if complaint is None:
        assert found == []
    else:
        assert any(complaint in problem for problem in found), found


def test_a_request_discord_does_not_publish_is_caught() -> None:
    with pytest.raises(AssertionError, match="no such path"):
        problems(Sent("POST", "/api/v10/channels/1/messages/2/nonsense", {}))
    with pytest.raises(AssertionError, match="no such operation"):
        problems(Sent("PUT", _CREATE, {"content": "hi"}))


async def test_a_real_request_that_breaks_the_contract_fails_the_check(bot: DiscordBot) -> None:
    """Through discord.py and the fake, end to end: a 2001-character message (the fake takes
    it, as a fake would) is caught by the contract, not by luck."""
    assert bot.adapter is not None
    channel = bot.adapter.client.get_partial_messageable(p.CHANNEL_ID, guild_id=p.GUILD_ID)
    await channel.send("x" * 2001)
    with pytest.raises(AssertionError, match="is too long"):
        assert_conforms(bot.fake.sent)
    bot.fake.sent.clear()  # the autouse check elsewhere would fail on it too
