"""SlackChat against the fake Slack: the chat.update budget, 429 handling, and the three-step
upload that never posts a file twice (checkpointed file id, files.info after a crash); then the
same rules through the real engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.simulator.server import RunningSimulator
from adapters.slack.chat import SENT, EditBudget, SlackChat
from bot.domain import ReplyTarget, TaskState
from bot.errors import DeliveryError, DeliveryTransient
from bot.messages import StatusView
from bot.ports import Delivery, StatusFinder
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import CHANNEL, SlackHarness, slack_harness
from tests.fakes.slack_server import BOT_TOKEN, FakeSlack

TARGET = ReplyTarget("slack", "T0TEAM", CHANNEL, "U0ALICE", None, "<@U0ALICE>")
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(clock.monotonic).start()
    yield server
    await server.close()


@pytest.fixture
async def chat(fake: FakeSlack, clock: FakeClock) -> AsyncIterator[SlackChat]:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    slack_chat = SlackChat(client, EditBudget(per_minute=50, clock=clock.monotonic))
    yield slack_chat
    await slack_chat.close()


def view(state: str = "running", final: bool = False, ref: str = "ABC123") -> StatusView:
    values: dict[str, object] = {
        "ref": ref,
        "state": state,
        "prompt": "a fox",
        "headline": "🎬 Rendering 40%",
        "summary": "“a fox” · text-to-video",
        "detail": "▓▓▓▓░",
        "progress": 40,
        "buttons": (),
        "final": final,
    }
    # Only the fields StatusView has (the core may add some while this adapter is reviewed).
    return StatusView(**{f.name: values[f.name] for f in fields(StatusView)})  # type: ignore[arg-type]


def delivery(tmp_path: Path, resume_ref: str | None = None) -> Delivery:
    path = tmp_path / "v.mp4"
    path.write_bytes(MP4)
    return Delivery(
        path,
        "videobot-ABC123-a-fox.mp4",
        "a fox",
        "<@U0ALICE>: “a fox”",
        "vbABC123v",
        len(MP4),
        resume_ref,
    )


class Checkpoints(list[str]):
    async def __call__(self, ref: str) -> None:
        self.append(ref)


async def test_progress_edits_stop_at_their_share_of_the_budget_and_finals_still_pass(
    chat: SlackChat, fake: FakeSlack, clock: FakeClock
) -> None:
    ts = await chat.post_status(TARGET, view("accepted"), "k")
    skipped = 0
    for _ in range(60):
        try:
            await chat.update_status(TARGET, ts, view())
        except DeliveryTransient as err:
            skipped += 1
            assert err.retry_after is not None and err.retry_after > timedelta(0)
    assert len(fake.named("chat.update")) == 40 and skipped == 20
    for _ in range(10):  # a final view may use the reserved fifth
        await chat.update_status(TARGET, ts, view("delivered", final=True))
    with pytest.raises(DeliveryTransient):
        await chat.update_status(TARGET, ts, view("delivered", final=True))
    other = replace(TARGET, workspace_id="T0OTHER")
    await chat.update_status(other, ts, view())  # another workspace has its own budget
    clock.advance(60)
    await chat.update_status(TARGET, ts, view())
    assert len(fake.named("chat.update")) == 52


async def test_a_429_becomes_a_transient_error_with_slacks_retry_after(
    chat: SlackChat, fake: FakeSlack
) -> None:
    ts = await chat.post_status(TARGET, view("accepted"), "k")
    fake.fail("chat.update", status=429, error="ratelimited")
    with pytest.raises(DeliveryTransient) as caught:
        await chat.update_status(TARGET, ts, view())
    assert caught.value.retry_after == timedelta(seconds=1)
    fake.fail("chat.update", error="channel_not_found")
    with pytest.raises(DeliveryError) as refused:
        await chat.update_status(TARGET, ts, view())
    assert not isinstance(refused.value, DeliveryTransient)


async def test_upload_lands_in_the_status_thread_and_returns_the_file_id(
    chat: SlackChat, fake: FakeSlack, tmp_path: Path
) -> None:
    saved = Checkpoints()
    file_id = await chat.upload_video(TARGET, "1700000001.000100", delivery(tmp_path), saved)
    assert saved == [file_id, file_id + SENT]
    (complete,) = fake.named("files.completeUploadExternal")
    assert complete.params["thread_ts"] == "1700000001.000100"
    assert complete.params["initial_comment"] == "<@U0ALICE>: “a fox”"
    assert fake.files[file_id].data == MP4


async def test_a_failed_completion_is_finished_later_without_a_second_file(
    chat: SlackChat, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.fail("files.completeUploadExternal", status=500)
    saved = Checkpoints()
    with pytest.raises(DeliveryTransient):
        await chat.upload_video(TARGET, "1700000001.000100", delivery(tmp_path), saved)
    file_id = await chat.upload_video(
        TARGET, "1700000001.000100", delivery(tmp_path, resume_ref=saved[-1]), Checkpoints()
    )
    assert file_id == saved[0]
    assert len(fake.named("files.getUploadURLExternal")) == 1
    assert len(fake.named("upload")) == 1
    assert [f.id for f in fake.files.values() if f.shares] == [file_id]


async def test_after_a_crash_a_posted_file_is_found_with_files_info_and_not_posted_again(
    chat: SlackChat, fake: FakeSlack, tmp_path: Path
) -> None:
    saved = Checkpoints()
    file_id = await chat.upload_video(TARGET, "1700000001.000100", delivery(tmp_path), saved)
    # The process died before the ledger recorded `delivered`: the worker tries again.
    again = await chat.upload_video(
        TARGET, "1700000001.000100", delivery(tmp_path, resume_ref=saved[-1]), Checkpoints()
    )
    assert again == file_id
    assert len(fake.named("files.info")) == 1
    assert len(fake.named("files.completeUploadExternal")) == 1
    assert sum(len(s) for s in fake.files[file_id].shares.values()) == 1


async def test_bytes_that_never_arrived_start_a_fresh_upload(
    chat: SlackChat, fake: FakeSlack, tmp_path: Path
) -> None:
    fake.fail("upload", status=500)
    saved = Checkpoints()
    with pytest.raises(DeliveryTransient):
        await chat.upload_video(TARGET, None, delivery(tmp_path), saved)
    assert saved == [saved[0]]  # only the file id: the bytes were not accepted
    file_id = await chat.upload_video(
        TARGET, None, delivery(tmp_path, resume_ref=saved[0]), Checkpoints()
    )
    assert file_id != saved[0]
    assert [f.id for f in fake.files.values() if f.shares] == [file_id]


@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    provider = make_provider(http, sim.url)
    policy = replace(TEST_POLICY, concurrency=40)
    async with slack_harness(
        tmp_path, sim=sim, clock=clock, ledger=ledger, provider=provider, policy=policy
    ) as harness:
        yield harness


async def test_thirty_tasks_in_one_workspace_stay_under_the_chat_update_budget(
    slack: SlackHarness,
) -> None:
    for _ in range(30):
        await slack.command("a fox")  # one render, cached by the simulator
    await slack.wait_responses(30)
    await slack.run_until_idle()

    tasks = await slack.tasks()
    assert len(tasks) == 30 and {t.state for t in tasks} == {TaskState.DELIVERED}
    updates = sorted(c.at for c in slack.fake.named("chat.update"))
    busiest = max(sum(1 for t in updates if start <= t < start + 60) for start in updates)
    assert busiest <= 50
    assert all("Done" in m.text for m in slack.fake.messages.values() if not m.thread_ts)
    assert len([f for f in slack.fake.files.values() if f.shares]) == 30


async def test_engine_retries_a_failed_completion_into_exactly_one_file(
    slack: SlackHarness,
) -> None:
    slack.fake.fail("files.completeUploadExternal", status=503, error="service_unavailable")
    await slack.command("a paper crane unfolding")
    await slack.wait_responses(1)
    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.DELIVERED
    assert len(slack.fake.named("files.completeUploadExternal")) == 2
    assert len(slack.fake.named("upload")) == 1
    shared = [f for f in slack.fake.files.values() if f.shares]
    assert [f.id for f in shared] == [task.delivery_ref]


async def test_a_refused_upload_falls_back_to_the_link_in_the_thread(slack: SlackHarness) -> None:
    for _ in range(3):
        slack.fake.fail("files.completeUploadExternal", error="not_in_channel")
    await slack.command("a paper crane unfolding")
    await slack.wait_responses(1)
    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.UNDELIVERABLE
    status = slack.fake.messages[task.status_message_id or ""]
    link = [m for m in slack.fake.messages.values() if m.thread_ts == status.ts]
    assert len(link) == 1 and "Download it" in link[0].text and "http" in link[0].text
    assert "could not post the file" in status.text


async def test_a_status_message_posted_before_a_crash_is_found_by_its_metadata(
    chat: SlackChat, fake: FakeSlack
) -> None:
    assert isinstance(chat, StatusFinder)
    target = ReplyTarget("slack", "T1", CHANNEL, "U1")
    await chat.post_status(target, view(ref="OTHER1"), "vbOTHER1s")
    ts = await chat.post_status(target, view(), "vbABC123s")
    assert await chat.find_status(target, "vbABC123s") == ts
    assert await chat.find_status(target, "vbNEVER0s") is None
    threaded = ReplyTarget("slack", "T1", CHANNEL, "U1", thread_id=ts)
    reply = await chat.post_status(threaded, view(ref="THR001"), "vbTHR001s")
    assert await chat.find_status(threaded, "vbTHR001s") == reply
    assert fake.named("conversations.history")[0].params["include_all_metadata"] in (
        "1",
        "true",
        True,
    )
