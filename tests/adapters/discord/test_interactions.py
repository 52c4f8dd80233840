"""Discord beyond `/video`: persistent buttons across a restart, the "Animate with videobot"
menu and its modal, mentions with an image, the task commands, command sync and the invite."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import copy
from urllib.parse import parse_qs, urlparse

from adapters.discord.setup import PERMISSIONS, application_invite, invite_url, sync_commands
from adapters.simulator.mp4 import render_mp4
from bot.domain import Mode, TaskState
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered, modal_for, png


async def delivered_task(bot: DiscordBot, prompt: str = "a paper boat") -> str:
    await answered(bot, p.slash("video", [p.option("prompt", prompt)]))
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    return task.ref


async def test_buttons_work_after_a_restart(bot: DiscordBot) -> None:
    await answered(bot, p.slash("video", [p.option("prompt", "a paper boat")]))
    await bot.worker.step()
    task = await bot.only_task()
    ref, status = task.ref, bot.fake.messages[task.status_message_id or ""]
    stale = copy.deepcopy(status)  # as a user still sees it: with its Cancel button
    await bot.run_until_idle()
    assert (await bot.only_task()).state is TaskState.DELIVERED
    await bot.restart()  # a new process: nothing in memory knows this message

    text = await answered(bot, p.button_press(f"vb:retry:{ref}", status))
    assert text.startswith("Got it: task")
    text = await answered(bot, p.button_press(f"vb:flip:{ref}", status))
    assert text.startswith("Got it: task") and "9:16" in text
    retries = [t for t in await bot.tasks() if t.retry_of == ref]
    assert sorted(t.request.aspect_ratio for t in retries) == ["16:9", "9:16"]

    # A button that no longer applies says why, ephemerally.
    text = await answered(bot, p.button_press(f"vb:cancel:{ref}", stale))
    assert "already ended" in text

    modal_id, input_id = await modal_for(bot, p.button_press(f"vb:edit:{ref}", status))
    text = await answered(bot, p.modal_submit(modal_id, {input_id: "make it black and white"}))
    assert text.startswith("Got it: task")
    edit = next(t for t in await bot.tasks() if t.request.mode is Mode.EDIT)
    assert edit.retry_of == ref and edit.request.prompt == "make it black and white"


async def test_cancel_button_on_a_live_task(bot: DiscordBot) -> None:
    await answered(bot, p.slash("video", [p.option("prompt", "a long one")]))
    await bot.worker.step()  # status message posted, with its Cancel button
    task = await bot.only_task()
    status = bot.fake.messages[task.status_message_id or ""]
    (row,) = status["components"]
    assert [b["custom_id"] for b in row["components"]] == [f"vb:cancel:{task.ref}"]
    assert await answered(bot, p.button_press(f"vb:cancel:{task.ref}", status)) == (
        f"Cancelled task {task.ref}."
    )
    await bot.run_until_idle()
    assert (await bot.only_task()).state is TaskState.CANCELLED
    assert bot.fake.edits[task.status_message_id or ""][-1]["embeds"][0]["title"] == "🚫 Cancelled"


async def test_animate_menu_with_two_images_makes_reference_to_video(bot: DiscordBot) -> None:
    images = [
        bot.fake.attach("a.png", png(colour="red"), "image/png"),
        bot.fake.attach("b.png", png(colour="blue"), "image/png"),
    ]
    target = p.message(p.CHANNEL_ID, p.user(), "look", attachments=images)
    modal_id, input_id = await modal_for(bot, p.message_command("Animate with videobot", target))
    text = await answered(bot, p.modal_submit(modal_id, {input_id: "the two of them dancing"}))
    assert text.startswith("Got it: task")
    task = await bot.only_task()
    assert task.request.mode is Mode.R2V and len(task.request.images) == 2


async def test_animate_menu_on_a_message_without_media_explains(bot: DiscordBot) -> None:
    target = p.message(p.CHANNEL_ID, p.user(), "just words")
    text = await answered(bot, p.message_command("Animate with videobot", target))
    assert "no image or video" in text
    assert await bot.tasks() == []


async def test_mention_with_an_image_in_a_thread_animates_it_there(bot: DiscordBot) -> None:
    ref = await delivered_task(bot)
    thread_id = (await bot.only_task()).status_message_id or ""
    image = bot.fake.attach("cat.png", png(), "image/png")
    mention = p.message(
        int(thread_id),
        p.user(),
        f"<@{p.BOT_ID}> make the cat wave --ar 9:16",
        mentions=[p.BOT_USER],
        attachments=[image],
        member=p.member(),
    )
    await bot.fake.dispatch("MESSAGE_CREATE", mention)
    await bot.fake.wait_for(lambda: len(bot.fake.in_channel(thread_id)) == 2)  # our reply
    task = next(t for t in await bot.tasks() if t.ref != ref)
    assert task.request.mode is Mode.I2V and task.request.aspect_ratio == "9:16"
    assert task.target.thread_id == thread_id and task.idem_key == f"discord:m:{mention['id']}"

    await bot.run_until_idle()
    task = await bot.ledger.get(task.ref) or task
    in_thread = bot.fake.in_channel(thread_id)
    assert any(m["id"] == task.status_message_id for m in in_thread)  # status in that thread
    assert task.status_message_id not in bot.fake.threads  # and no thread inside a thread
    assert sum(1 for m in in_thread if m["attachments"]) == 2  # both videos
    # The gateway may deliver it again after a resume: still one task.
    seen = len(in_thread)
    await bot.fake.dispatch("MESSAGE_CREATE", mention)
    await bot.fake.wait_for(lambda: len(bot.fake.in_channel(thread_id)) > seen)
    assert bot.fake.in_channel(thread_id)[-1]["content"].startswith("Already on it")
    assert len(await bot.tasks()) == 2


async def test_task_commands(bot: DiscordBot) -> None:
    ref = await delivered_task(bot, "a red kite")

    def verb(name: str, ref: str | None = None) -> p.Json:
        options = [p.option("ref", ref)] if ref else []
        return p.slash("videobot", [p.subcommand(name, options)])

    assert "a red kite" in await answered(bot, verb("list"))
    assert "Done" in await answered(bot, verb("status", ref.lower()))
    assert "No task ZZZZZZ" in await answered(bot, verb("status", "ZZZZZZ"))
    assert "already ended" in await answered(bot, verb("cancel", ref))
    assert (await answered(bot, verb("retry", ref))).startswith("Got it: task")
    assert "/video" in await answered(bot, verb("help"))


async def test_sync_to_the_guild_and_the_invite(bot: DiscordBot) -> None:
    names = await sync_commands(bot.settings)
    assert sorted(names) == ["Animate with videobot", "video", "videobot"]
    assert set(bot.fake.synced) == {str(p.GUILD_ID)}  # never globally unless asked
    video = next(c for c in bot.fake.synced[str(p.GUILD_ID)] if c["name"] == "video")
    options = {o["name"]: o for o in video["options"]}
    assert [c["value"] for c in options["duration"]["choices"]] == [6, 10]
    assert options["prompt"]["required"] and options["image"]["type"] == 11

    await sync_commands(bot.settings, global_=True)
    assert len(bot.fake.synced["global"]) == 3
    assert bot.fake.synced[str(p.GUILD_ID)] == []  # the setup copies are dropped

    url = urlparse(invite_url(p.APP_ID))
    query = parse_qs(url.query)
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(PERMISSIONS.value)]
    assert query["client_id"] == [str(p.APP_ID)]
    assert await application_invite(bot.settings) == invite_url(p.APP_ID)


async def test_video_attachment_makes_a_video_edit(bot: DiscordBot) -> None:
    clip = bot.fake.attach("clip.mp4", render_mp4("a clip", "16:9", 4, height=144), "video/mp4")
    payload = p.slash(
        "video",
        [p.option("prompt", "turn it into a watercolour"), p.option("video", clip["id"], 11)],
        [clip],
    )
    assert (await answered(bot, payload)).startswith("Got it: task")
    task = await bot.only_task()
    assert task.request.mode is Mode.EDIT and task.request.video is not None


async def test_a_useless_attachment_is_explained(bot: DiscordBot) -> None:
    notes = bot.fake.attach("notes.png", b"not an image at all", "image/png")
    payload = p.slash(
        "video", [p.option("prompt", "animate"), p.option("image", notes["id"], 11)], [notes]
    )
    text = await answered(bot, payload)
    assert "notes.png" in text and "PNG, JPEG or WebP" in text
    assert await bot.tasks() == []


async def test_the_prompt_option_is_capped_at_the_prompt_limit(bot: DiscordBot) -> None:
    """Discord's own form refuses an over-long prompt before anything reaches the bot."""
    await sync_commands(bot.settings)
    video = next(c for c in bot.fake.synced[str(p.GUILD_ID)] if c["name"] == "video")
    prompt = next(o for o in video["options"] if o["name"] == "prompt")
    assert prompt["type"] == 3 and prompt["max_length"] == bot.settings.prompt_max_chars == 2000

    shorter = bot.settings.model_copy(update={"prompt_max_chars": 500})
    await sync_commands(shorter)
    video = next(c for c in bot.fake.synced[str(p.GUILD_ID)] if c["name"] == "video")
    prompt = next(o for o in video["options"] if o["name"] == "prompt")
    assert prompt["max_length"] == 500


async def test_the_animate_form_is_capped_at_the_prompt_limit(bot: DiscordBot) -> None:
    image = bot.fake.attach("a.png", png(), "image/png")
    target = p.message(p.CHANNEL_ID, p.user(), "look", attachments=[image])
    payload = p.message_command("Animate with videobot", target)
    await modal_for(bot, payload)
    callback = bot.fake.callback_for(payload)
    assert callback is not None
    field = callback.data["components"][0]
    text_input = field.get("component") or field["components"][0]
    assert text_input["max_length"] == bot.settings.prompt_max_chars
