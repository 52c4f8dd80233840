"""Buttons, modals, the message shortcut and events with files, through signed HTTP requests to
the bolt app; private files come from the fake Slack's file host."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.domain import Mode, TaskState
from tests.fakes.slack_harness import CHANNEL, USER, SlackHarness, png_bytes
from tests.fakes.slack_server import BOT_TOKEN, BOT_USER


async def _delivered(slack: SlackHarness, text: str = "a red kite over hills") -> tuple[str, str]:
    """A finished task made by /video; returns (ref, status message ts)."""
    await slack.command(text)
    await slack.wait_responses(1)
    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.DELIVERED and task.status_message_id
    return task.ref, task.status_message_id


def _opened_view(slack: SlackHarness, index: int = -1) -> dict[str, Any]:
    view = slack.fake.named("views.open")[index].params["view"]
    return view if isinstance(view, dict) else dict(json.loads(view))


async def test_retry_button_double_click_makes_one_new_task(slack: SlackHarness) -> None:
    ref, ts = await _delivered(slack)
    first, second = await asyncio.gather(
        slack.button("retry", ref, ts), slack.button("retry", ref, ts)
    )
    assert first.status_code == second.status_code == 200
    replies = await slack.wait_responses(3)
    assert sorted("Already on it" in r["text"] for r in replies[1:]) == [False, True]
    assert all(r.get("replace_original") is False for r in replies[1:])
    tasks = await slack.tasks()
    assert len(tasks) == 2
    retry = next(t for t in tasks if t.ref != ref)
    assert retry.retry_of == ref and retry.state is TaskState.ACCEPTED


async def test_flip_button_retries_in_the_other_aspect_ratio(slack: SlackHarness) -> None:
    ref, ts = await _delivered(slack)
    await slack.button("flip", ref, ts)
    await slack.wait_responses(2)
    flipped = next(t for t in await slack.tasks() if t.ref != ref)
    assert flipped.request.aspect_ratio == "9:16"


async def test_cancel_button_on_a_live_task(slack: SlackHarness) -> None:
    await slack.command("a slow sunrise")
    await slack.wait_responses(1)
    await slack.worker.step()  # posts the status message with its Cancel button
    (task,) = await slack.tasks()
    assert task.status_message_id is not None
    await slack.button("cancel", task.ref, task.status_message_id)
    replies = await slack.wait_responses(2)
    assert replies[1]["text"] == f"Cancelled task {task.ref}."
    await slack.run_until_idle()
    status = slack.fake.messages[task.status_message_id]
    assert "Cancelled" in status.text
    assert slack.fake.named("files.completeUploadExternal") == []


async def test_edit_button_opens_a_modal_whose_submission_edits_the_result(
    slack: SlackHarness,
) -> None:
    ref, ts = await _delivered(slack)
    await slack.button("edit", ref, ts)
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    view = _opened_view(slack)
    assert view["callback_id"] == "videobot_edit"
    view["id"] = "V0EDIT"
    response = await slack.submit_view(view, {"prompt": "turn it into a watercolour"})
    assert response.status_code == 200
    for _ in range(2):  # the same modal submitted twice is one task
        await slack.submit_view(view, {"prompt": "turn it into a watercolour"})
    await slack.settle()
    edit = next(t for t in await slack.tasks() if t.ref != ref)
    assert edit.request.mode is Mode.EDIT and edit.request.prompt == "turn it into a watercolour"
    assert len(await slack.tasks()) == 2


async def test_empty_prompt_in_a_modal_is_refused_before_it_closes(slack: SlackHarness) -> None:
    await slack.command("")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    view = _opened_view(slack)
    assert view["callback_id"] == "videobot_create"
    view["id"] = "V0NEW"
    response = await slack.submit_view(view, {"prompt": "  ", "ar": ("s", "16:9")})
    assert response.json() == {
        "response_action": "errors",
        "errors": {"prompt": "Describe the video you want."},
    }
    assert await slack.tasks() == []


async def test_new_video_modal_with_an_image_makes_image_to_video(slack: SlackHarness) -> None:
    image = slack.fake.add_user_file("cat.png", "image/png", png_bytes())
    await slack.command("")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    view = {**_opened_view(slack), "id": "V0NEW2"}
    values = {
        "prompt": "the cat waves",
        "mode": ("s", "auto"),
        "ar": ("s", "9:16"),
        "duration": ("s", "6"),
        "files": [image],
    }
    await slack.submit_view(view, values)
    (task,) = await slack.settle()
    assert task.request.mode is Mode.I2V and task.request.aspect_ratio == "9:16"
    assert task.target.channel_id == CHANNEL and task.target.thread_id is None


async def test_message_shortcut_on_an_image_in_a_thread_posts_the_video_in_that_thread(
    slack: SlackHarness,
) -> None:
    image = slack.fake.add_user_file("boat.png", "image/png", png_bytes("blue"))
    message = {
        "type": "message",
        "user": "U0BOB",
        "ts": "1690000000.000200",
        "thread_ts": "1690000000.000100",
        "text": "look",
        "files": [image],
    }
    await slack.interactive(
        {
            "type": "message_action",
            "callback_id": "videobot_animate",
            "trigger_id": "trig.short",
            "response_url": f"{slack.fake.url}/response/short",
            "user": {"id": USER, "team_id": "T0TEAM"},
            "channel": {"id": CHANNEL},
            "message": message,
            "message_ts": message["ts"],
        }
    )
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    view = {**_opened_view(slack), "id": "V0SHORT"}
    assert view["callback_id"] == "videobot_animate" and "1 image" in json.dumps(view)
    await slack.submit_view(
        view, {"prompt": "the boat sails away", "ar": ("s", "16:9"), "duration": ("s", "6")}
    )
    (task,) = await slack.settle()
    assert task.request.mode is Mode.I2V
    assert task.target.thread_id == "1690000000.000100"

    await slack.run_until_idle()
    (status,) = slack.fake.named("chat.postMessage")
    assert status.params["thread_ts"] == "1690000000.000100"
    (complete,) = slack.fake.named("files.completeUploadExternal")
    assert complete.params["thread_ts"] == "1690000000.000100"
    downloads = slack.fake.named("file")
    assert downloads and all(c.auth == f"Bearer {BOT_TOKEN}" for c in downloads)


async def test_message_shortcut_on_a_clip_makes_a_video_edit(slack: SlackHarness) -> None:
    from adapters.simulator.mp4 import render_mp4

    clip = slack.fake.add_user_file("clip.mp4", "video/mp4", render_mp4("waves", "16:9", 4))
    message = {"type": "message", "user": "U0BOB", "ts": "1690000000.000400", "files": [clip]}
    await slack.interactive(
        {
            "type": "message_action",
            "callback_id": "videobot_animate",
            "trigger_id": "trig.clip",
            "response_url": f"{slack.fake.url}/response/clip",
            "user": {"id": USER, "team_id": "T0TEAM"},
            "channel": {"id": CHANNEL},
            "message": message,
            "message_ts": message["ts"],
        }
    )
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    view = {**_opened_view(slack), "id": "V0CLIP"}
    assert "1 clip" in json.dumps(view)
    await slack.submit_view(
        view, {"prompt": "make it a watercolour", "ar": ("s", "16:9"), "duration": ("s", "6")}
    )
    (task,) = await slack.settle()
    assert task.request.mode is Mode.EDIT and task.request.video is not None
    assert task.target.thread_id == "1690000000.000400"


async def test_mention_with_a_task_verb_answers_ephemerally(slack: SlackHarness) -> None:
    await slack.event(_mention(f"<@{BOT_USER}> status NOPE42", []), "Ev0VERB")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    (answer,) = slack.fake.named("chat.postEphemeral")
    assert "No task NOPE42" in answer.params["text"] and answer.params["user"] == USER


async def test_shortcut_on_a_message_without_media_says_so(slack: SlackHarness) -> None:
    await slack.interactive(
        {
            "type": "message_action",
            "callback_id": "videobot_animate",
            "trigger_id": "trig.none",
            "response_url": f"{slack.fake.url}/response/none",
            "user": {"id": USER, "team_id": "T0TEAM"},
            "channel": {"id": CHANNEL},
            "message": {
                "type": "message",
                "user": "U0BOB",
                "ts": "1690000000.000300",
                "text": "hi",
            },
        }
    )
    (reply,) = await slack.wait_responses(1)
    assert "holds no image or video" in reply["text"]
    assert slack.fake.named("views.open") == []


def _mention(
    text: str,
    files: list[dict[str, Any]],
    ts: str = "1690000001.000100",
    thread_ts: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": USER,
        "text": text,
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
    }
    if files:
        event["files"] = files
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


async def test_mention_with_two_images_makes_reference_to_video_in_its_thread(
    slack: SlackHarness,
) -> None:
    files = [
        slack.fake.add_user_file(f"{c}.png", "image/png", png_bytes(c)) for c in ("red", "green")
    ]
    response = await slack.event(_mention(f"<@{BOT_USER}> the two of them dancing", files), "Ev01")
    assert response.status_code == 200
    (task,) = await slack.settle()
    assert task.request.mode is Mode.R2V and len(task.request.images) == 2
    assert task.target.thread_id == "1690000001.000100"
    assert task.request.prompt == "the two of them dancing"


async def test_an_event_delivered_four_times_makes_one_task(slack: SlackHarness) -> None:
    files = [slack.fake.add_user_file("a.png", "image/png", png_bytes())]
    event = _mention(f"<@{BOT_USER}> make it move", files)
    first = asyncio.create_task(slack.event(event, "Ev0DUP"))
    # Slack's http_timeout retry can arrive while the first delivery is still being handled.
    retries = [
        slack.event(
            event, "Ev0DUP", {"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}
        )
        for n in (1, 2, 3)
    ]
    answers = await asyncio.gather(first, *retries)
    assert [a.status_code for a in answers] == [200] * 4
    await slack.settle()
    assert len(slack.fake.named("file")) == 4  # every delivery was handled...
    assert len(await slack.tasks()) == 1  # ...and the ledger's UNIQUE event id kept one task


async def test_reply_with_a_file_in_a_videobot_thread_makes_a_task(slack: SlackHarness) -> None:
    ref, ts = await _delivered(slack)
    files = [slack.fake.add_user_file("dog.png", "image/png", png_bytes("white"))]
    reply = {
        "type": "message",
        "subtype": "file_share",
        "user": USER,
        "text": "now the dog",
        "ts": "1690000002.000100",
        "thread_ts": ts,
        "parent_user_id": BOT_USER,
        "channel": CHANNEL,
        "files": files,
    }
    elsewhere = {
        **reply,
        "ts": "1690000002.000200",
        "thread_ts": "1690000000.999999",
        "parent_user_id": "U0BOB",
    }
    await slack.event(elsewhere, "Ev0ELSE")
    await slack.event(reply, "Ev0REPLY")
    tasks = await slack.settle()
    new = next(t for t in tasks if t.ref != ref)
    assert new.request.mode is Mode.I2V and new.target.thread_id == ts
    assert len(slack.fake.named("file")) == 1  # the unrelated thread was never fetched


async def test_token_goes_to_the_file_host_only_and_never_across_a_redirect(
    slack: SlackHarness,
) -> None:
    image = slack.fake.add_user_file("cat.png", "image/png", png_bytes())
    moved = slack.fake.redirecting_object(image)
    await slack.event(_mention(f"<@{BOT_USER}> the cat waves", [moved]), "Ev0REDIR")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    (warning,) = slack.fake.named("chat.postEphemeral")
    assert "not on Slack's file host" in warning.params["text"]
    assert warning.params["thread_ts"] == "1690000001.000100"
    # The redirect was not followed: the other origin never saw a request, let alone the token.
    assert [c.method for c in slack.fake.calls if c.host.startswith("localhost")] == []
    assert await slack.tasks() == []
    for call in slack.fake.calls:
        if call.auth and BOT_TOKEN in call.auth:
            assert call.host.startswith("127.0.0.1")
            assert call.path.startswith(("/api/", "/files-pri/", "/redirect/"))


async def test_a_login_page_instead_of_the_image_is_explained(slack: SlackHarness) -> None:
    slack.fake.files_read = False
    image = slack.fake.add_user_file("cat.png", "image/png", png_bytes())
    await slack.event(_mention(f"<@{BOT_USER}> the cat waves", [image]), "Ev0LOGIN")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postEphemeral")))
    (warning,) = slack.fake.named("chat.postEphemeral")
    assert "files:read" in warning.params["text"]
    assert await slack.tasks() == []


async def test_the_same_edit_from_two_forms_is_one_task(slack: SlackHarness) -> None:
    """Anyone may open Edit on a result; the same instruction for the same task from two forms
    (a second press, a second user) is one paid edit, another instruction another."""
    ref, ts = await _delivered(slack)
    await slack.button("edit", ref, ts)
    await slack.button("edit", ref, ts, user="U0BOB")
    await slack.button("edit", ref, ts)
    await slack.fake.wait_for(lambda: len(slack.fake.named("views.open")) >= 3)
    forms = [_opened_view(slack, i) for i in range(3)]
    for form, view_id in zip(forms, ("V0A", "V0B", "V0C"), strict=True):
        form["id"] = view_id  # each form Slack opens has its own view id
    await slack.submit_view(forms[0], {"prompt": "turn it into a watercolour"})
    await slack.submit_view(forms[1], {"prompt": " turn it into  a watercolour "}, user="U0BOB")
    await slack.submit_view(forms[2], {"prompt": "make it night"})
    await slack.settle()
    edits = sorted(t.request.prompt for t in await slack.tasks() if t.request.mode is Mode.EDIT)
    assert edits == ["make it night", "turn it into a watercolour"]
