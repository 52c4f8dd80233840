"""Discord end to end: the real discord.py client against the fake Discord (REST + gateway),
a real engine (SQLite ledger, HTTP provider, simulator on a fake clock) stepped by hand."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import hashlib
import io
from pathlib import Path

import av
import discord
from discord.gateway import DiscordWebSocket

from adapters.discord.chat import RECONCILE_DEPTH
from bot.domain import Mode, TaskState
from bot.ports import Delivery, StatusFinder
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, png


def video(prompt: str, *options: p.Json, attachments: list[p.Json] | None = None) -> p.Json:
    return p.slash("video", [p.option("prompt", prompt), *options], attachments)


async def accepted(bot: DiscordBot, payload: p.Json) -> None:
    """Deliver the interaction and wait for the ephemeral follow-up that ends the handler."""
    before = len(bot.fake.followups)
    await bot.fake.interact(payload)
    await bot.fake.wait_for(lambda: len(bot.fake.followups) > before)


async def test_video_posts_status_thread_edits_and_the_mp4(bot: DiscordBot) -> None:
    await accepted(bot, video("a paper boat on a river", p.option("aspect_ratio", "9:16")))
    callback = bot.fake.callbacks[0]
    assert callback.type == 5 and callback.data.get("flags") == 64  # deferred, ephemeral
    assert "Got it: task" in bot.fake.followups[0]["content"]

    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    assert task.target.user_id == str(p.USER_ID) and task.idem_key.startswith("discord:i:")
    status = bot.fake.in_channel(p.CHANNEL_ID)
    assert [m["id"] for m in status] == [task.status_message_id]  # one status message
    assert status[0]["nonce"] == task.nonce("s")
    edits = bot.fake.edits[task.status_message_id or ""]
    titles = [e["embeds"][0]["title"] for e in edits]
    assert any("Rendering" in t for t in titles) and titles[-1] == "✅ Done"
    assert edits[-1]["components"][0]["components"][0]["custom_id"] == f"vb:retry:{task.ref}"
    thread = bot.fake.threads[task.status_message_id or ""]
    assert thread["name"] == "a paper boat on a river"
    (posted,) = bot.fake.in_channel(thread["id"])
    assert posted["content"].startswith(f"<@{p.USER_ID}> ")
    assert "a paper boat on a river" in posted["content"] and "9:16" in posted["content"]
    (file,) = posted["attachments"]
    data = bot.fake.cdn[file["url"].rsplit("/", 1)[1]]
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (360, 640)
    # Everything after the first answer went through the channel API, never the token.
    webhook_calls = [path for _, path in bot.fake.requests if path.startswith("/api/v10/webhooks")]
    assert len(webhook_calls) == 1


async def test_image_attachment_is_downloaded_at_intake(bot: DiscordBot) -> None:
    image = bot.fake.attach("cat.png", png(), "image/png")
    payload = video(
        "make the cat wave",
        p.option("image", image["id"], otype=11),
        attachments=[image],
    )
    await accepted(bot, payload)
    bot.fake.cdn.clear()  # the CDN URL expires; the task must not need it any more

    task = await bot.only_task()
    assert task.request.mode is Mode.I2V
    assert task.request.images[0].sha256 == hashlib.sha256(png()).hexdigest()
    await bot.run_until_idle()
    assert (await bot.only_task()).state is TaskState.DELIVERED


async def test_defer_failure_submits_nothing(bot: DiscordBot) -> None:
    """D-02: a replayed interaction past its 3 s gets 10062 on defer: no task, no answer."""
    stale = video("a replayed request")
    bot.fake.expired.add(stale["id"])
    await bot.fake.interact(stale)
    await accepted(bot, video("a live request"))  # handled after the stale one

    task = await bot.only_task()
    assert task.request.prompt == "a live request"
    assert len(bot.fake.followups) == 1
    assert bot.fake.callback_for(stale) is None


async def test_a_retried_interaction_makes_one_task(bot: DiscordBot) -> None:
    payload = video("a fox in the snow")
    await accepted(bot, payload)
    # Replayed on a gateway resume: Discord refuses the second acknowledgement (40060).
    await bot.fake.interact(payload)
    await accepted(bot, video("a later request"))
    assert {t.request.prompt for t in await bot.tasks()} == {"a fox in the snow", "a later request"}
    # Even if the second defer went through, the interaction id is the idempotency key.
    bot.fake.callbacks.clear()
    await accepted(bot, payload)
    assert len(await bot.tasks()) == 2
    assert bot.fake.followups[-1]["content"].startswith("Already on it: task")


async def test_502_after_create_leaves_exactly_one_message(bot: DiscordBot) -> None:
    """D-06: the fake creates the message, answers 502; discord.py retries with the same nonce."""
    await accepted(bot, video("a lighthouse in a storm"))
    bot.fake.fail_after_create = 1
    await bot.worker.step()  # posts the status message (through one 502 and a retry)
    task = await bot.only_task()
    status = bot.fake.in_channel(p.CHANNEL_ID)
    assert [m["id"] for m in status] == [task.status_message_id]
    assert ("POST", f"/api/v10/channels/{p.CHANNEL_ID}/messages") in bot.fake.requests
    posts = [r for r in bot.fake.requests if r[1].endswith(f"/channels/{p.CHANNEL_ID}/messages")]
    assert len(posts) == 2  # the first answer was lost, the retry found the message by nonce

    bot.fake.fail_after_create = 1  # the same for the video upload
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    uploads = bot.fake.in_channel(task.status_message_id or "")
    assert len(uploads) == 1 and uploads[0]["attachments"]


async def test_a_lost_answer_is_reconciled_by_the_task_nonce(bot: DiscordBot) -> None:
    """D-06b: the connection drops after Discord created the status message (discord.py does
    not retry that); after the marker written before posting, the worker looks first."""
    await accepted(bot, video("a kite over the dunes"))
    bot.fake.drop_after_create = 1
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    calls = [r for r in bot.fake.requests if r[1].endswith(f"/channels/{p.CHANNEL_ID}/messages")]
    # The lost answer, then the worker looked in the channel, found its message, and did not
    # post again at all (the nonce would also have caught it within Discord's few minutes).
    assert [method for method, _ in calls] == ["POST", "GET"]
    assert [m["id"] for m in bot.fake.in_channel(p.CHANNEL_ID)] == [task.status_message_id]
    assert len(bot.fake.in_channel(task.status_message_id or "")) == 1  # one video


async def test_upload_over_the_limit_falls_back_to_a_link(bot: DiscordBot) -> None:
    """D-07: the interaction says this server takes 100 kB; the MP4 is larger: link, no upload."""
    payload = p.slash("video", [p.option("prompt", "a paper boat")], size_limit=100_000)
    await accepted(bot, payload)
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.UNDELIVERABLE
    (link,) = bot.fake.in_channel(task.status_message_id or "")
    assert not link["attachments"]
    assert "upload limit" in link["content"] and "Download it before" in link["content"]
    assert task.result_url and task.result_url in link["content"]
    assert link["content"].startswith(f"<@{p.USER_ID}>")


async def test_without_thread_permission_the_video_replies_in_the_channel(bot: DiscordBot) -> None:
    bot.fake.refuse_threads = True
    await accepted(bot, video("a quiet harbour"))
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED and not bot.fake.threads
    status, posted = bot.fake.in_channel(p.CHANNEL_ID)
    assert status["id"] == task.status_message_id
    assert posted["attachments"]
    assert posted["message_reference"]["message_id"] == task.status_message_id


async def test_upload_reconciles_with_a_video_already_in_the_thread(bot: DiscordBot) -> None:
    """After a crash the nonce window (minutes) may be over: the thread itself is checked."""
    await accepted(bot, video("a paper boat"))
    await bot.run_until_idle()
    task = await bot.only_task()
    (posted,) = bot.fake.in_channel(task.status_message_id or "")
    chat = bot.chats["discord"]

    async def checkpoint(ref: str) -> None:
        raise AssertionError("a single-step upload has nothing to checkpoint")

    again = Delivery(
        path=Path("/nonexistent.mp4"),  # never opened: the video is found, not re-sent
        filename=posted["attachments"][0]["filename"],
        title="",
        caption="",
        key="vbOTHERNONCEv",
        size=1000,
    )
    ref = await chat.upload_video(task.target, task.status_message_id, again, checkpoint)
    assert ref == f"{task.status_message_id}/{posted['id']}"
    assert len(bot.fake.in_channel(task.status_message_id or "")) == 1


def test_discord_py_seams_this_adapter_relies_on() -> None:
    """Pinned: the class attributes DISCORD_API_URL / DISCORD_GATEWAY_URL set, and the
    version whose retry and nonce behaviour the tests above were written against."""
    assert discord.__version__.startswith("2.7.")
    assert isinstance(discord.http.Route.BASE, str)
    assert hasattr(DiscordWebSocket, "DEFAULT_GATEWAY")
    assert discord.ui.DynamicItem is not None and hasattr(discord.Client, "add_dynamic_items")


async def test_a_status_message_posted_before_a_crash_is_found_in_the_channel(
    bot: DiscordBot,
) -> None:
    """Past the nonce window, the channel itself tells whether the status was posted."""
    await accepted(bot, video("a paper boat"))
    await bot.run_until_idle()
    task = await bot.only_task()
    chat = bot.chats["discord"]
    assert isinstance(chat, StatusFinder)
    assert await chat.find_status(task.target, task.nonce("s")) == task.status_message_id
    assert await chat.find_status(task.target, "vbZZZZZZs") is None
    assert await chat.find_status(task.target, "not-a-status-key") is None


async def test_a_video_lost_in_the_channel_after_the_nonce_window_is_found_not_posted_again(
    bot: DiscordBot,
) -> None:
    """No thread permission, so the video goes to the channel; its answer is lost and the retry
    comes after Discord forgot the nonce: the worker finds the video in the channel."""
    bot.fake.refuse_threads = True
    await accepted(bot, video("a harbour at dawn"))
    await bot.worker.step()  # the status message
    bot.fake.drop_after_create = 1  # the video is created, its answer lost
    bot.fake.nonces_expired = True
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    videos = [m for m in bot.fake.in_channel(p.CHANNEL_ID) if m["attachments"]]
    assert len(videos) == 1
    assert task.delivery_ref == f"{p.CHANNEL_ID}/{videos[0]['id']}"


async def test_a_lost_video_is_found_however_busy_the_channel_got_since(bot: DiscordBot) -> None:
    """The video went to the channel (no thread permission), its answer was lost, and before
    the retry the channel moved on by more than a reconcile page of other messages."""
    bot.fake.refuse_threads = True
    bot.fake.nonces_expired = True
    await accepted(bot, video("a harbour at night"))
    await bot.worker.step()  # the status message
    bot.fake.drop_after_create = 1  # the next create is the video: made, its answer lost
    for _ in range(600):
        if any(m["attachments"] for m in bot.fake.in_channel(p.CHANNEL_ID)):
            break
        bot.clock.advance(1)
        await bot.worker.step()
    for i in range(3 * RECONCILE_DEPTH):  # other tasks' messages, newer than the lost video
        chatter = p.message(p.CHANNEL_ID, p.BOT_USER, f"another task's update {i}")
        bot.fake.messages[chatter["id"]] = chatter
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    videos = [m for m in bot.fake.in_channel(p.CHANNEL_ID) if m["attachments"]]
    assert len(videos) == 1
    assert task.delivery_ref == f"{p.CHANNEL_ID}/{videos[0]['id']}"


async def test_a_lost_video_post_with_unreadable_history_is_caught_by_the_nonce(
    bot: DiscordBot,
) -> None:
    """The video is created but its answer is lost, and the bot may not read the thread or
    the channel (403 50001), so reconciling finds nothing: only the task's nonce, with
    `enforce_nonce`, stops the second post from making a second video."""
    await accepted(bot, video("a lantern on a lake"))
    await bot.worker.step()  # the status message and its thread
    task = await bot.only_task()
    thread_id = task.status_message_id or ""
    assert thread_id in bot.fake.threads
    bot.fake.drop_after_create = 1  # the next create is the video: made, its answer lost
    bot.fake.fail("history", 403, 50001, "Missing Access", times=20)
    await bot.run_until_idle()

    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    everywhere = [*bot.fake.in_channel(thread_id), *bot.fake.in_channel(p.CHANNEL_ID)]
    videos = [m for m in everywhere if m["attachments"]]
    assert len(videos) == 1, videos
    # discord.py sends a random nonce of its own when given none, which covers only its own
    # retries of one call: the task's nonce is what covers the worker's second attempt.
    creates = [s for s in bot.fake.sent if s.method == "POST" and s.files]
    assert len(creates) >= 2  # the lost post and at least one more after it
    assert {s.body["nonce"] for s in creates if s.body} == {task.nonce("v")}
