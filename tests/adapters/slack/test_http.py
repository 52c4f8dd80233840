"""The Slack adapter in HTTP mode, end to end: signed requests to the bolt app on loopback, the
real engine behind it (simulator, SQLite ledger, worker on a fake clock) and a fake Slack that
records every Web API call, upload and file download."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from pathlib import Path

import av
import httpx
import pytest

from bot.domain import Mode, TaskState
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import CHANNEL, USER, SlackHarness, slack_harness
from tests.fakes.slack_server import BOT_TOKEN


async def test_slash_command_posts_status_edits_it_and_uploads_the_mp4_into_its_thread(
    slack: SlackHarness,
) -> None:
    response = await slack.command("a paper boat on a river --ar 9:16 --duration 10")
    assert response.status_code == 200

    (reply,) = await slack.wait_responses(1)
    assert reply["response_type"] == "ephemeral"
    assert "Got it: task" in reply["text"]
    (task,) = await slack.tasks()
    assert (task.request.mode, task.request.aspect_ratio, task.request.duration) == (
        Mode.T2V,
        "9:16",
        10,
    )
    assert task.target.channel_id == CHANNEL and task.target.user_id == USER

    await slack.run_until_idle()

    (posted,) = slack.fake.named("chat.postMessage")
    assert posted.params["channel"] == CHANNEL and posted.params.get("thread_ts") is None
    status = next(iter(slack.fake.messages.values()))
    assert f"<@{USER}>" in str(posted.params["blocks"])  # names the requester
    edits = [e["text"] for e in status.edits]
    assert any("Rendering" in text for text in edits)
    assert "Done" in edits[-1]
    final_actions = [
        element["action_id"]
        for block in status.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert final_actions == ["videobot_retry", "videobot_flip", "videobot_edit"]

    (complete,) = slack.fake.named("files.completeUploadExternal")
    assert complete.params["channel_id"] == CHANNEL
    assert complete.params["thread_ts"] == status.ts
    (upload,) = slack.fake.named("upload")
    assert upload.auth is None  # the pre-signed upload URL never sees the bot token
    with av.open(io.BytesIO(upload.body)) as container:
        assert container.streams.video[0].height == 640
    (file,) = [f for f in slack.fake.files.values() if f.shares]
    assert file.title == "a paper boat on a river"
    assert [s["thread_ts"] for s in file.shares[CHANNEL]] == [status.ts]
    done = await slack.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert done.delivery_ref == file.id


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"secret": "not-the-secret"}, "bad signature"),
        ({"timestamp": int(time.time()) - 600}, "stale timestamp"),
        ({"altered": True}, "altered body"),
    ],
)
async def test_unsigned_or_stale_requests_are_refused(
    slack: SlackHarness, tamper: dict[str, object], why: str
) -> None:
    body = "team_id=T0TEAM&channel_id=C1&user_id=U1&command=%2Fvideo&text=fox&trigger_id=t.1"
    signing = {k: v for k, v in tamper.items() if k != "altered"}
    headers: dict[str, str] = {"Content-Type": "application/x-www-form-urlencoded"}
    from tests.fakes.slack_harness import sign

    headers.update(sign(body, **signing))  # type: ignore[arg-type]
    sent = body.replace("fox", "cat") if tamper.get("altered") else body
    response = await slack.client.post(slack.url, content=sent.encode(), headers=headers)
    assert response.status_code == 401, why
    assert await slack.tasks() == []
    assert slack.fake.calls == []


async def test_input_errors_are_answered_ephemerally_with_the_allowed_values(
    slack: SlackHarness,
) -> None:
    await slack.command("a fox --ar 4:3")
    await slack.command("a fox --duration 7")
    await slack.command("a fox --image ./cat.png")
    replies = await slack.wait_responses(3)
    texts = sorted(r["text"] for r in replies)
    assert all(r["response_type"] == "ephemeral" for r in replies)
    assert any("Use 16:9 or 9:16" in t for t in texts)
    assert any("6 or 10 seconds" in t for t in texts)
    assert any("Animate with videobot" in t for t in texts)
    assert await slack.tasks() == []


async def test_the_same_trigger_twice_makes_one_task(slack: SlackHarness) -> None:
    await slack.command("a fox in snow", trigger_id="trig.same")
    await slack.wait_responses(1)
    await slack.command("a fox in snow", trigger_id="trig.same")
    replies = await slack.wait_responses(2)
    assert "Already on it" in replies[1]["text"]
    assert len(await slack.tasks()) == 1


async def test_help_list_status_cancel_and_retry(slack: SlackHarness) -> None:
    await slack.command("help")
    (help_reply,) = await slack.wait_responses(1)
    # `<` is a control character in Slack text: it arrives escaped and shows as `status <ref>`.
    assert "--ar" in help_reply["text"] and "status &lt;ref&gt;" in help_reply["text"]

    await slack.command("a lighthouse at dusk")
    await slack.wait_responses(2)
    (task,) = await slack.tasks()
    for text in (
        "list",
        f"status {task.ref}",
        f"retry {task.ref}",
        f"cancel {task.ref}",
        f"cancel {task.ref}",
        "status NOPE42",
    ):
        count = len(slack.responses())
        await slack.command(text)
        await slack.wait_responses(count + 1)
    texts = [r["text"] for r in slack.responses()[2:]]
    assert task.ref in texts[0] and "lighthouse" in texts[0]
    assert "Queued" in texts[1]
    assert "still running" in texts[2]
    assert texts[3] == f"Cancelled task {task.ref}."
    assert "already ended" in texts[4]
    assert "No task NOPE42" in texts[5]
    stored = await slack.ledger.get(task.ref)
    assert stored is not None and stored.state is TaskState.CANCELLED


async def test_other_users_cannot_cancel(slack: SlackHarness) -> None:
    await slack.command("a lighthouse at dusk")
    await slack.wait_responses(1)
    (task,) = await slack.tasks()
    await slack.command(f"cancel {task.ref}", user="U0MALLORY")
    replies = await slack.wait_responses(2)
    assert "belongs to someone else" in replies[1]["text"]


async def test_the_bot_token_is_never_sent_to_response_urls(slack: SlackHarness) -> None:
    await slack.command("a fox")
    await slack.wait_responses(1)
    for call in slack.fake.calls:
        if call.method == "response":
            assert call.auth is None
        assert BOT_TOKEN not in str(call.params)


async def test_answered_within_a_second_while_the_video_service_hangs(
    tmp_path: Path, clock: FakeClock, ledger: SqliteLedger, http: httpx.AsyncClient
) -> None:
    from adapters.simulator.knobs import SimConfig
    from adapters.simulator.server import start_simulator
    from tests.conftest import SIM_KEY

    hanging = await start_simulator(SimConfig(submit_latency=3, api_key=SIM_KEY))
    provider = make_provider(http, hanging.url)
    try:
        async with slack_harness(
            tmp_path,
            sim=hanging,
            clock=clock,
            ledger=ledger,
            provider=provider,
            policy=TEST_POLICY,
        ) as slack:
            await slack.command("a fox in snow")
            await slack.wait_responses(1)
            stepping = asyncio.create_task(slack.worker.step())  # now stuck inside the submit
            await slack.fake.wait_for(lambda: bool(slack.fake.named("chat.postMessage")))
            async with asyncio.timeout(5):  # until the simulator holds the submit's answer
                # noqa below: the simulator counts a held submit but signals no event for it
                while hanging.simulator.stats.tasks_created == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
            assert not stepping.done()

            started = time.monotonic()
            response = await slack.command("a second fox")
            assert response.status_code == 200
            assert time.monotonic() - started < 1.0
            replies = await slack.wait_responses(2)
            assert "Got it" in replies[1]["text"]
            states = sorted(t.state.value for t in await slack.tasks())
            assert states == ["accepted", "submitting"]
            stepping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stepping
    finally:
        await hanging.close()


async def test_no_secret_reaches_the_debug_logs(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.fakes.slack_harness import SECRET

    caplog.set_level(logging.DEBUG)
    await slack.command("a fox --ar 9:16")
    await slack.wait_responses(1)
    await slack.run_until_idle()
    assert "slack_sdk" in caplog.text  # the SDK did log its requests at DEBUG...
    assert BOT_TOKEN not in caplog.text  # ...without the bot token
    assert SECRET not in caplog.text


def test_http_mode_without_a_signing_secret_refuses_to_start(
    tmp_path: Path, ledger: SqliteLedger
) -> None:
    from pydantic import SecretStr

    from adapters.media.intake import MediaIntake
    from adapters.slack.app import SlackAdapter
    from bot.config import Settings
    from bot.policy import WorkerPolicy
    from bot.service import VideoService

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_app_token=None,
        slack_signing_secret=None,
    )
    service = VideoService(ledger, WorkerPolicy(), FakeClock().now, lambda: None)
    with pytest.raises(SystemExit, match="SLACK_SIGNING_SECRET"):
        SlackAdapter(settings, service, MediaIntake(tmp_path, settings.profile()))
