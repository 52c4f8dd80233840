"""Polling through the real worker against a hostile gateway of our own on loopback: statuses
no dialect knows, permanent refusals of a poll, task ids that are not path-safe, and a gateway
that keeps failing. Each ends the way a user would expect, without polling for an hour."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.domain import TaskState
from bot.policy import WorkerPolicy
from bot.service import VideoService
from bot.task import Task
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, fake_clock_worker, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import Answer, ScriptedUpstream, refused, running, scripted_upstream


@dataclass
class Rig:
    upstream: ScriptedUpstream
    ledger: SqliteLedger
    worker: Worker
    service: VideoService
    chat: FakeChat
    clock: FakeClock

    async def accept(self, prompt: str = "a paper boat") -> Task:
        task, _ = await self.service.accept(t2v(prompt), target(), f"evt-{prompt}")
        return task

    async def steps(self, count: int, seconds: float = 1.0) -> None:
        for _ in range(count):
            await self.worker.step()
            self.clock.advance(seconds)

    async def run_until_idle(self, seconds: float = 1.0, max_steps: int = 400) -> None:
        for _ in range(max_steps):
            await self.worker.step()
            if await self.ledger.next_due_at() is None:
                return
            self.clock.advance(seconds)
        raise AssertionError("the worker did not finish within the step budget")

    async def row(self, task: Task) -> Task:
        found = await self.ledger.get(task.task_id)
        assert found is not None
        return found

    def final_details(self) -> list[str]:
        return [view.detail for view in self.chat.final_views()]


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as running_upstream:
        yield running_upstream


@pytest.fixture
def rig(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> Rig:
    return build_rig(upstream, ledger, http, clock, tmp_path, TEST_POLICY)


def build_rig(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
    policy: WorkerPolicy,
) -> Rig:
    chat = FakeChat()
    provider = make_provider(http, upstream.url)
    worker = fake_clock_worker(ledger, provider, chat, clock, tmp_path / "scratch", policy, 4)
    service = VideoService(ledger, policy, clock.now, worker.wake)
    return Rig(upstream, ledger, worker, service, chat, clock)


# -- statuses no dialect knows ----------------------------------------------------------------


async def test_an_unknown_status_with_an_error_object_fails_with_the_providers_reason(
    rig: Rig,
) -> None:
    rig.upstream.ids.append("t-err")
    rig.upstream.script(
        "t-err",
        Answer(
            200,
            {
                "task_id": "t-err",
                "status": "aborted_by_moderator",
                "error": {"code": "moderation_blocked", "message": "The scene was blocked."},
            },
        ),
    )
    task = await rig.accept()
    await rig.run_until_idle()
    ended = await rig.row(task)
    assert ended.state is TaskState.FAILED
    assert ended.error_code == "moderation_blocked"
    assert "The scene was blocked." in rig.final_details()[0]
    assert rig.upstream.polls["t-err"] == 1  # ended on the first answer, not at the deadline


async def test_an_unknown_status_with_a_result_url_is_delivered(rig: Rig) -> None:
    rig.upstream.ids.append("t-url")
    rig.upstream.script(
        "t-url",
        Answer(
            200,
            {
                "task_id": "t-url",
                "status": "finalised",
                "video_url": f"{rig.upstream.url}/files/t-url.mp4",
            },
        ),
    )
    task = await rig.accept()
    await rig.run_until_idle()
    done = await rig.row(task)
    assert done.state is TaskState.DELIVERED
    assert len(rig.chat.uploads) == 1
    assert rig.upstream.polls["t-url"] == 1


async def test_an_unknown_status_alone_is_logged_once_shown_and_still_polled(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="videobot")
    rig.upstream.ids.append("t-odd")
    odd = running("t-odd", 30, status="warming_up")
    rig.upstream.script("t-odd", odd, odd, odd, odd, odd, rig.upstream.done("t-odd"))
    task = await rig.accept()
    await rig.steps(80)
    mentions = [r for r in caplog.records if "warming_up" in r.getMessage()]
    assert len(mentions) == 1, [r.getMessage() for r in mentions]
    assert rig.upstream.polls["t-odd"] >= 5
    shown = [
        view.detail
        for views in rig.chat.posts.values()
        for view in views
        if "warming_up" in view.detail
    ]
    assert shown and "does not recognise" in shown[0]
    await rig.run_until_idle()
    assert (await rig.row(task)).state is TaskState.DELIVERED


# -- permanent refusals of a poll -------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 422])
async def test_a_permanently_refused_poll_ends_the_task_at_once(rig: Rig, status: int) -> None:
    rig.upstream.ids.append("t-no")
    rig.upstream.script("t-no", refused(status, "You may not read this task."))
    task = await rig.accept()
    await rig.steps(60)
    ended = await rig.row(task)
    assert ended.state is TaskState.FAILED
    assert "You may not read this task." in (ended.error_message or "")
    assert rig.upstream.polls["t-no"] == 1  # one refusal, not a poll a minute for an hour
    assert len(rig.chat.final_views()) == 1


async def test_a_refused_key_on_poll_holds_the_task_and_says_so(rig: Rig) -> None:
    """401 follows the key-refused handling: the task is kept (it is paid for), the user is
    told the bot is misconfigured, and polls slow to one a minute until the key works."""
    rig.upstream.ids.append("t-key")
    rig.upstream.script("t-key", refused(401, "Invalid API key."), rig.upstream.done("t-key"))
    task = await rig.accept()
    await rig.steps(30)
    held = await rig.row(task)
    assert held.state is TaskState.SUBMITTED
    assert rig.upstream.polls["t-key"] == 1
    assert "misconfigured" in rig.chat.last_view(held.status_message_id or "").detail
    await rig.steps(40)
    await rig.run_until_idle()
    assert (await rig.row(task)).state is TaskState.DELIVERED


async def test_a_poll_that_keeps_failing_says_so_in_the_status_message(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    # The production edit interval: the status shown right after the submit is skipped as
    # too soon after the first post, so only a later edit can replace "Sending it ... now".
    policy = replace(TEST_POLICY, status_interval=timedelta(seconds=3))
    rig = build_rig(upstream, ledger, http, clock, tmp_path, policy)
    upstream.ids.append("t-500")
    upstream.script("t-500", refused(503, "Service unavailable"))
    task = await rig.accept()
    await rig.steps(120)
    row = await rig.row(task)
    assert row.state is TaskState.SUBMITTED
    detail = rig.chat.last_view(row.status_message_id or "").detail
    assert "Sending it to the video service now" not in detail
    assert "has not answered" in detail, detail


# -- task ids that are not path-safe ----------------------------------------------------------


@pytest.mark.parametrize(
    "provider_task_id",
    ["gen/2026/abc", "abc?x=1", "abc#frag", "line\nbreak", "tab\tand\x07bell", "..", "a b%2F"],
)
async def test_any_provider_task_id_is_polled_at_its_own_url(
    rig: Rig, provider_task_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig.upstream.ids.append(provider_task_id)
    task = await rig.accept()
    await rig.run_until_idle()
    done = await rig.row(task)
    assert done.state is TaskState.DELIVERED, done.error_message
    assert done.provider_task_id == provider_task_id
    assert rig.upstream.polls[provider_task_id] == 1
    polled = [p for p in rig.upstream.raw_paths if p.startswith("/v1/videos/generations/")]
    assert len(polled) == 1 and "/" not in polled[0].removeprefix("/v1/videos/generations/")
    for record in caplog.records:  # no log line was split or rung by the id
        message = record.getMessage()
        assert "\n" not in message and "\x07" not in message, message
