"""Chat-side faults against the fake Slack and the fake Discord, through the real adapters and
the real engine (simulator, SQLite ledger, worker stepped on a fake clock): 429s with
Retry-After on status edits, 5xx on posts and uploads, uploads that keep failing, a status
message somebody deleted, a thread or channel the bot can no longer post in.

Every case ends the same way: retried within bounds, then a clear outcome (the video, a link,
or the task marked undeliverable and listed by `videobot tasks`), the worker never raises, and
other tasks keep flowing."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from adapters.ops.tasks import print_tasks
from adapters.simulator.server import RunningSimulator
from bot.cli import parser
from bot.domain import TaskState
from bot.errors import DeliveryTransient
from bot.messages import status_view
from bot.task import Task
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import DiscordBot, discord_bot
from tests.fakes.slack_harness import CHANNEL, SlackHarness

OTHER_CHANNEL = "C0RANDOM"


@pytest.fixture(autouse=True)
def no_worker_crash(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A chat fault must be handled where it happens, never reach the worker's catch-all."""
    caplog.set_level(logging.WARNING, logger="videobot")
    yield
    crashes = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert not crashes, [r.getMessage() for r in crashes]


async def listed(ledger: SqliteLedger, *filters: str) -> str:
    """What an operator sees in `videobot tasks`."""
    out = io.StringIO()
    args = parser("videobot").parse_args(["tasks", *filters])
    await print_tasks(ledger, args, out)
    return out.getvalue()


class Stepped(Protocol):
    worker: Worker
    clock: FakeClock


async def step_until(run: Stepped, ledger: SqliteLedger, ref: str, *states: TaskState) -> Task:
    """Step the worker (1 s of fake time a step) until task `ref` is in one of `states`."""
    for _ in range(200):
        task = await ledger.get(ref)
        if task is not None and task.state in states:
            return task
        await run.worker.step()
        run.clock.advance(1)
    raise AssertionError(f"task {ref} never reached {states}")


# -- Slack -------------------------------------------------------------------------------------


async def slack_task(slack: SlackHarness, prompt: str, channel: str = CHANNEL) -> str:
    before = len(slack.responses())
    await slack.command(prompt, channel=channel)
    (*_, reply) = await slack.wait_responses(before + 1)
    assert "Got it: task" in reply["text"], reply
    return str(reply["text"]).split("task ", 1)[1].split(" ", 1)[0]


def thread_files(slack: SlackHarness, thread_ts: str) -> list[str]:
    return [
        f.id
        for f in slack.fake.files.values()
        for shares in f.shares.values()
        for share in shares
        if share["thread_ts"] == thread_ts
    ]


async def test_slack_429_on_the_final_edit_waits_out_retry_after_then_shows_it(
    slack: SlackHarness,
) -> None:
    ref = await slack_task(slack, "a heron taking off")
    await step_until(slack, slack.ledger, ref, TaskState.RUNNING)
    slack.clock.advance(60)  # the render is over: the next step posts the video and ends it
    # ...but its "fetching" edit and its final edit are both answered 429, Retry-After 20 s.
    slack.fake.fail("chat.update", 429, "ratelimited", times=2, retry_after=20)
    await slack.worker.step()
    held = await slack.ledger.get(ref)
    assert held is not None and held.state is TaskState.DELIVERED
    assert held.next_check_at is not None  # the final status is still owed
    assert held.next_check_at - slack.clock.now() >= timedelta(seconds=20)
    await slack.run_until_idle()

    task = await slack.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED and task.next_check_at is None
    status = slack.fake.messages[task.status_message_id or ""]
    assert "Done" in status.text
    *_, first_429, second_429, final = slack.fake.named("chat.update")
    assert first_429.at == second_429.at and final.at - second_429.at >= 20
    assert thread_files(slack, status.ts) == [task.delivery_ref]


async def test_slack_5xx_on_post_and_upload_is_retried_into_one_status_and_one_file(
    slack: SlackHarness,
) -> None:
    slack.fake.fail("chat.postMessage", 503, "html", times=2)  # a proxy's page, not JSON
    ref = await slack_task(slack, "a lantern drifting upward")
    await step_until(slack, slack.ledger, ref, TaskState.RUNNING)
    slack.fake.fail("files.getUploadURLExternal", 502, "html")
    slack.fake.fail("upload", 502)
    await slack.run_until_idle()

    task = await slack.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    roots = [m for m in slack.fake.messages.values() if not m.thread_ts]
    assert [m.ts for m in roots] == [task.status_message_id]
    assert len(slack.fake.named("chat.postMessage")) == 3  # two 503s, then the one post
    assert thread_files(slack, roots[0].ts) == [task.delivery_ref]
    assert len(slack.fake.named("upload")) == 2


async def test_slack_upload_failing_every_time_ends_in_a_link_and_in_videobot_tasks(
    slack: SlackHarness,
) -> None:
    slack.fake.fail("upload", 500, times=TEST_POLICY.delivery_attempts)
    ref = await slack_task(slack, "a kite in a thunderstorm")
    await slack.run_until_idle()

    task = await slack.ledger.get(ref)
    assert task is not None and task.state is TaskState.UNDELIVERABLE
    assert len(slack.fake.named("upload")) == TEST_POLICY.delivery_attempts  # bounded
    status = slack.fake.messages[task.status_message_id or ""]
    (link,) = [m for m in slack.fake.messages.values() if m.thread_ts == status.ts]
    assert task.result_url and task.result_url in link.text and "Download it" in link.text
    assert "could not post the file" in status.text
    assert task.result_url in json.dumps(status.blocks)  # the status message has the link too
    assert not any(f.shares for f in slack.fake.files.values())
    table = await listed(slack.ledger, "--state", "undeliverable")
    assert ref in table and "posting failed 5 times" in table


async def test_slack_deleted_status_message_is_posted_again_and_the_video_follows_it(
    slack: SlackHarness,
) -> None:
    ref = await slack_task(slack, "a paper lantern on a lake")
    running = await step_until(slack, slack.ledger, ref, TaskState.RUNNING)
    slack.fake.delete_message(running.status_message_id or "")
    await slack.run_until_idle()

    task = await slack.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    assert task.status_message_id != running.status_message_id
    status = slack.fake.messages[task.status_message_id or ""]
    assert "Done" in status.text
    assert [m.ts for m in slack.fake.messages.values() if not m.thread_ts] == [status.ts]
    assert thread_files(slack, status.ts) == [task.delivery_ref]


async def test_slack_channel_the_bot_was_removed_from_ends_undeliverable_others_flow(
    slack: SlackHarness,
) -> None:
    lost = await slack_task(slack, "a fox crossing a frozen river")
    fine = await slack_task(slack, "a fox crossing a frozen river", channel=OTHER_CHANNEL)
    await step_until(slack, slack.ledger, lost, TaskState.RUNNING)
    slack.fake.kicked.add(CHANNEL)
    kicked_at = len(slack.fake.calls)
    await slack.run_until_idle()

    gone, ok = await slack.ledger.get(lost), await slack.ledger.get(fine)
    assert ok is not None and ok.state is TaskState.DELIVERED
    assert gone is not None and gone.state is TaskState.UNDELIVERABLE
    assert gone.next_check_at is None  # ended: nothing keeps retrying it
    assert "not_in_channel" in (gone.error_message or "")
    assert (await listed(slack.ledger, "--state", "undeliverable")).count(lost) == 1
    to_lost = [
        c for c in slack.fake.calls[kicked_at:]
        if CHANNEL in (c.params.get("channel"), c.params.get("channel_id"))
    ]  # fmt: skip
    assert 1 <= len(to_lost) <= 12, [c.method for c in to_lost]  # a bounded number of tries


# -- Discord -----------------------------------------------------------------------------------
OTHER_ID = p.CHANNEL_ID + 7


@pytest.fixture
async def bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    async with discord_bot(
        tmp_path, clock, sim, ledger=ledger, http=http, policy=TEST_POLICY
    ) as running:
        running.fake.channels.add(str(OTHER_ID))
        yield running


async def discord_task(bot: DiscordBot, prompt: str, channel_id: int = p.CHANNEL_ID) -> str:
    before = len(bot.fake.followups)
    payload = p.slash("video", [p.option("prompt", prompt)], channel=p.text_channel(channel_id))
    await bot.fake.interact(payload)
    await bot.fake.wait_for(lambda: len(bot.fake.followups) > before)
    text = str(bot.fake.followups[-1]["content"])
    assert "Got it: task" in text, text
    return text.split("task ", 1)[1].split(" ", 1)[0]


def title(bot: DiscordBot, message_id: str | None) -> str:
    return str(bot.fake.messages[message_id or ""]["embeds"][0]["title"])


def videos_in(bot: DiscordBot, channel_id: str | int) -> list[p.Json]:
    return [m for m in bot.fake.in_channel(channel_id) if m["attachments"]]


async def test_discord_short_429s_on_edits_are_retried_by_the_client(bot: DiscordBot) -> None:
    ref = await discord_task(bot, "a heron taking off")
    running = await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    edits = len(bot.fake.edits[running.status_message_id or ""])
    bot.fake.fail("edit", 429, retry_after=0.05, times=2)
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    assert title(bot, task.status_message_id) == "✅ Done"
    patches = [r for r in bot.fake.requests if r[0] == "PATCH"]
    landed = len(bot.fake.edits[task.status_message_id or ""]) - edits
    assert len(patches) - 2 >= landed >= 1  # the two 429s were sent again, and landed


async def test_discord_long_429_is_handed_back_to_the_worker_not_slept_inline(
    bot: DiscordBot,
) -> None:
    ref = await discord_task(bot, "a lighthouse at dusk")
    running = await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    chat = bot.chats["discord"]
    bot.fake.fail("edit", 429, retry_after=60)
    view = status_view(running, bot.clock.now())
    async with asyncio.timeout(3):  # discord.py alone would sleep 60 s in here
        with pytest.raises(DeliveryTransient) as caught:
            await chat.update_status(running.target, running.status_message_id or "", view)
    assert caught.value.retry_after == timedelta(seconds=60)

    bot.fake.fail("edit", 429, retry_after=60, times=3)
    async with asyncio.timeout(20):
        await bot.run_until_idle()
    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED and task.next_check_at is None
    assert title(bot, task.status_message_id) == "✅ Done"


async def test_discord_5xx_on_status_post_and_upload_ends_in_one_of_each(
    bot: DiscordBot,
) -> None:
    bot.fake.fail("create", 503)
    ref = await discord_task(bot, "a lantern drifting upward")
    running = await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    bot.fake.fail("create", 503, times=2)  # the video upload, twice
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    assert [m["id"] for m in bot.fake.in_channel(p.CHANNEL_ID)] == [running.status_message_id]
    assert len(videos_in(bot, task.status_message_id or "")) == 1


async def test_discord_upload_failing_every_time_ends_in_a_link_and_in_videobot_tasks(
    bot: DiscordBot,
) -> None:
    ref = await discord_task(bot, "a kite in a thunderstorm")
    await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    bot.fake.fail("create", 503, times=TEST_POLICY.delivery_attempts)
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.UNDELIVERABLE and not task.next_check_at
    (link,) = bot.fake.in_channel(task.status_message_id or "")
    assert not link["attachments"] and task.result_url and task.result_url in link["content"]
    assert title(bot, task.status_message_id).startswith("⚠️")
    assert ref in await listed(bot.ledger, "--state", "undeliverable")


async def test_discord_refused_upload_falls_back_to_a_link_at_once(bot: DiscordBot) -> None:
    ref = await discord_task(bot, "a very large video")
    await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    bot.fake.fail("create", 413, 40005, "Request entity too large")
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.UNDELIVERABLE
    assert "40005" in (task.error_message or "")
    (link,) = bot.fake.in_channel(task.status_message_id or "")
    assert task.result_url and task.result_url in link["content"]


async def test_discord_deleted_status_message_is_posted_again_and_the_video_follows_it(
    bot: DiscordBot,
) -> None:
    ref = await discord_task(bot, "a paper lantern on a lake")
    running = await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    bot.fake.delete_message(running.status_message_id or "")
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    assert task.status_message_id != running.status_message_id
    assert [m["id"] for m in bot.fake.in_channel(p.CHANNEL_ID)] == [task.status_message_id]
    assert title(bot, task.status_message_id) == "✅ Done"
    assert len(videos_in(bot, task.status_message_id or "")) == 1
    assert not videos_in(bot, running.status_message_id or "")


async def test_discord_thread_without_access_gets_the_video_as_a_reply_in_the_channel(
    bot: DiscordBot,
) -> None:
    ref = await discord_task(bot, "a quiet harbour at night")
    running = await step_until(bot, bot.ledger, ref, TaskState.RUNNING)
    bot.fake.no_access.add(running.status_message_id or "")  # the thread on the status message
    await bot.run_until_idle()

    task = await bot.ledger.get(ref)
    assert task is not None and task.state is TaskState.DELIVERED
    (video,) = videos_in(bot, p.CHANNEL_ID)
    assert video["message_reference"]["message_id"] == task.status_message_id
    assert title(bot, task.status_message_id) == "✅ Done"


async def test_discord_channel_without_access_ends_undeliverable_and_others_flow(
    bot: DiscordBot,
) -> None:
    lost = await discord_task(bot, "a fox crossing a frozen river")
    fine = await discord_task(bot, "a fox crossing a frozen river", channel_id=OTHER_ID)
    running = await step_until(bot, bot.ledger, lost, TaskState.RUNNING)
    bot.fake.no_access |= {str(p.CHANNEL_ID), running.status_message_id or ""}
    await bot.run_until_idle()

    gone, ok = await bot.ledger.get(lost), await bot.ledger.get(fine)
    assert ok is not None and ok.state is TaskState.DELIVERED
    assert len(videos_in(bot, ok.status_message_id or "")) == 1
    assert gone is not None and gone.state is TaskState.UNDELIVERABLE and not gone.next_check_at
    assert "50001" in (gone.error_message or "")
    assert lost in await listed(bot.ledger, "--state", "undeliverable")


async def test_a_conversation_the_bot_cannot_post_in_is_never_paid_for(
    slack: SlackHarness,
) -> None:
    # A /video in a conversation the bot is not a member of (a DM between two people, a
    # channel it was removed from): the answer could never be shown, so nothing is sent.
    slack.fake.kicked.add(CHANNEL)
    lost = await slack_task(slack, "a fox crossing a frozen river")
    await slack.run_until_idle()
    task = await slack.ledger.get(lost)
    assert task is not None and task.state is TaskState.REJECTED
    assert task.error_code == "unpostable" and "nothing was sent or charged" in (
        task.error_message or ""
    )
    state = (await slack.client.get(f"{slack.sim.url}/_sim/state")).json()
    assert state["tasks_created"] == 0
