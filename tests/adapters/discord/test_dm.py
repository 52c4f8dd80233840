"""`/video` in a DM with the bot: no guild, no member, a channel of type 1. A DM has no threads,
so the status message stays thread-less and the video replies to it in the DM itself; nothing
is ever tried as a thread there.

The interaction envelope is the shape Discord sends from a bot DM, recorded in
tests/payloads/discord/slash_in_bot_dm.json: `user` instead of `member`, no `guild_id` or
`guild_locale`, `context` 1 (BOT_DM) and `authorizing_integration_owners` {"0": "0"}."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import io
import json
from typing import Any

import av
import discord

from bot.domain import TaskState
from bot.ports import StatusFinder
from bot.task import Task
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot
from tests.paths import PAYLOADS

DM_SHAPE = PAYLOADS / "discord" / "slash_in_bot_dm.json"
API = "/api/v10"


def in_dm(dm: p.Json, data: p.Json, itype: int = 2, **extra: Any) -> p.Json:
    """An interaction from the DM channel `dm` (see FakeDiscord.open_dm), in the recorded
    shape; only what differs per interaction is filled in."""
    payload: p.Json = json.loads(DM_SHAPE.read_text())
    payload.update(
        id=str(p.snowflake()),
        token=f"interaction-token-{p.snowflake()}",
        type=itype,
        data=data,
        channel=dm,
        channel_id=dm["id"],
        **extra,
    )
    return payload


def command(name: str, options: list[p.Json] | None = None) -> p.Json:
    return {"id": str(p.snowflake()), "name": name, "type": 1, "options": options or []}


def video(prompt: str) -> p.Json:
    return command("video", [p.option("prompt", prompt)])


def verb(name: str, ref: str | None = None) -> p.Json:
    return command("videobot", [p.subcommand(name, [p.option("ref", ref)] if ref else [])])


async def answered(bot: DiscordBot, payload: p.Json) -> str:
    """Deliver the interaction; wait for the ephemeral follow-up that ends its handler."""
    before = len(bot.fake.followups)
    await bot.fake.interact(payload)
    await bot.fake.wait_for(lambda: len(bot.fake.followups) > before)
    return str(bot.fake.followups[-1]["content"])


def posts_to(bot: DiscordBot, channel_id: str) -> list[str]:
    """The methods of every request on a channel's (or would-be thread's) messages route."""
    path = f"{API}/channels/{channel_id}/messages"
    return [method for method, at in bot.fake.requests if at == path]


def assert_video_replies_to_its_status(bot: DiscordBot, task: Task, posted: p.Json) -> None:
    """The MP4, once, in the DM, as a reply to the task's status message; not in any thread."""
    status_id = task.status_message_id or ""
    assert posted["content"].startswith(f"<@{p.USER_ID}> ")
    assert posted["message_reference"]["message_id"] == status_id
    assert posted["message_reference"]["channel_id"] == task.target.channel_id
    assert "guild_id" not in posted["message_reference"]  # a DM reference names no guild
    (file,) = posted["attachments"]
    assert file["filename"].endswith(".mp4")
    with av.open(io.BytesIO(bot.fake.cdn[file["url"].rsplit("/", 1)[1]])) as container:
        assert container.streams.video
    assert task.delivery_ref == f"{task.target.channel_id}/{posted['id']}"
    # A DM has no threads: the status message id is never tried as one (no look, no post).
    assert posts_to(bot, status_id) == []
    assert bot.fake.in_channel(status_id) == []


async def test_video_in_a_dm_is_delivered_as_a_reply_in_the_dm(bot: DiscordBot) -> None:
    dm = bot.fake.open_dm()
    payload = in_dm(dm, video("a paper boat in a bottle"))
    text = await answered(bot, payload)
    callback = bot.fake.callback_for(payload)
    assert callback is not None and callback.type == 5  # deferred first...
    assert callback.data.get("flags") == 64  # ...ephemerally
    assert text.startswith("Got it: task")
    assert bot.fake.followups[-1].get("flags") == 64

    task = await bot.only_task()
    assert task.target.workspace_id == "@me" and task.target.channel_id == dm["id"]
    assert task.target.thread_id is None and task.target.user_id == str(p.USER_ID)

    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    status, posted = bot.fake.in_channel(dm["id"])
    assert status["id"] == task.status_message_id and "guild_id" not in status
    assert status["nonce"] == task.nonce("s")
    # One status message, edited in place as the task moved, never posted again.
    assert posts_to(bot, dm["id"]) == ["POST", "POST"]  # the status message, the video
    titles = [e["embeds"][0]["title"] for e in bot.fake.edits[status["id"]]]
    assert any("Rendering" in t for t in titles) and titles[-1] == "✅ Done"
    # No thread: none exists and none was even asked for.
    assert not bot.fake.threads
    assert not [path for _, path in bot.fake.requests if path.endswith("/threads")]
    assert_video_replies_to_its_status(bot, task, posted)
    # After the first answer everything went through the channel API, never the token.
    webhooks = [path for _, path in bot.fake.requests if path.startswith(f"{API}/webhooks")]
    assert len(webhooks) == 1


async def test_a_lost_status_answer_in_a_dm_is_found_without_a_thread(bot: DiscordBot) -> None:
    """The connection drops after the status message was created: the worker finds it in the
    DM by its task nonce (the path that also opens a thread a crash may have skipped)."""
    dm = bot.fake.open_dm()
    await answered(bot, in_dm(dm, video("a kite over the dunes")))
    bot.fake.drop_after_create = 1
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    # The lost answer, the look that found it, then the video: no second status message.
    assert posts_to(bot, dm["id"]) == ["POST", "GET", "POST"]
    status, posted = bot.fake.in_channel(dm["id"])
    assert status["id"] == task.status_message_id
    assert not bot.fake.threads
    assert_video_replies_to_its_status(bot, task, posted)
    chat = bot.chats["discord"]
    assert isinstance(chat, StatusFinder)
    assert await chat.find_status(task.target, task.nonce("s")) == task.status_message_id


async def test_task_commands_and_buttons_work_in_a_dm(bot: DiscordBot) -> None:
    dm = bot.fake.open_dm()
    await answered(bot, in_dm(dm, video("a red kite")))
    await bot.run_until_idle()
    first = await bot.only_task()
    ref = first.ref

    assert "Done" in await answered(bot, in_dm(dm, verb("status", ref.lower())))
    assert "a red kite" in await answered(bot, in_dm(dm, verb("list")))
    # The Retry button on the finished status message, pressed in the DM.
    status = bot.fake.messages[first.status_message_id or ""]
    press = {"custom_id": f"vb:retry:{ref}", "component_type": 2}
    assert (await answered(bot, in_dm(dm, press, itype=3, message=status))).startswith("Got it")

    await bot.run_until_idle()
    retry = next(t for t in await bot.tasks() if t.retry_of == ref)
    assert retry.state is TaskState.DELIVERED
    assert (retry.target.workspace_id, retry.target.channel_id) == ("@me", dm["id"])
    in_dm_channel = bot.fake.in_channel(dm["id"])
    statuses = [m for m in in_dm_channel if not m["attachments"]]
    assert [m["id"] for m in statuses] == [first.status_message_id, retry.status_message_id]
    videos = [m for m in in_dm_channel if m["attachments"]]
    assert [v["message_reference"]["message_id"] for v in videos] == [
        first.status_message_id,
        retry.status_message_id,
    ]
    assert not bot.fake.threads


async def test_the_fake_refuses_what_discord_refuses_in_a_dm(bot: DiscordBot) -> None:
    """Over the real wire (discord.py's HTTP client): starting a thread on a DM message is
    400 50024, and a message id where no thread was opened is no channel (404 10003)."""
    dm = bot.fake.open_dm()
    await answered(bot, in_dm(dm, video("a paper boat")))
    await bot.worker.step()  # posts the status message in the DM
    status_id = (await bot.only_task()).status_message_id or ""
    assert bot.adapter is not None
    http = bot.adapter.client.http

    try:
        await http.start_thread_with_message(
            int(dm["id"]), int(status_id), name="no threads in DMs", auto_archive_duration=1440
        )
    except discord.HTTPException as err:
        assert (err.status, err.code) == (400, 50024)
        assert err.text == "Cannot execute action on this channel type"
    else:
        raise AssertionError("a thread was started in a DM")
    try:
        with discord.http.handle_message_parameters(content="x") as params:
            await http.send_message(int(status_id), params=params)
    except discord.NotFound as err:
        assert err.code == 10003
    else:
        raise AssertionError("a message id took a message as if it were a channel")
    assert not bot.fake.threads and bot.fake.in_channel(status_id) == []


async def test_a_video_lost_in_a_dm_after_the_nonce_window_is_found_not_posted_again(
    bot: DiscordBot,
) -> None:
    dm = bot.fake.open_dm()
    await answered(bot, in_dm(dm, video("a lantern on the water")))
    await bot.worker.step()  # the status message
    bot.fake.drop_after_create = 1  # the video is created in the DM, its answer lost
    bot.fake.nonces_expired = True
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    videos = [m for m in bot.fake.in_channel(dm["id"]) if m["attachments"]]
    assert len(videos) == 1
    assert task.delivery_ref == f"{dm['id']}/{videos[0]['id']}"
