"""Accepting requests: idempotency, quotas checked in the same statement that records the task,
allowlists, and the task verbs (cancel, retry, edit) with ownership."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.access import AccessPolicy
from bot.domain import Mode, Profile, ReplyTarget, TaskState
from bot.errors import ActionRefused, CommandError, NotFound, QuotaExceeded
from bot.ledger import TaskQuery
from bot.policy import WorkerPolicy
from bot.service import VideoService
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import t2v, target
from tests.fakes.clock import FakeClock
from tests.ledgers import *  # noqa: F403  (the ledger contract: both backends)

Woken = list[int]


def service(ledger: SqliteLedger, clock: FakeClock, woken: Woken, **access: object) -> VideoService:
    return VideoService(
        ledger,
        WorkerPolicy(),
        clock.now,
        lambda: woken.append(1),
        AccessPolicy(**access),  # type: ignore[arg-type]
    )


async def test_accept_records_wakes_and_dedups(ledger: SqliteLedger, clock: FakeClock) -> None:
    woken: Woken = []
    svc = service(ledger, clock, woken)
    first, created = await svc.accept(t2v(), target(), "slack:trigger-1")
    again, created_again = await svc.accept(t2v(), target(), "slack:trigger-1")
    assert created and not created_again and again.task_id == first.task_id
    assert woken == [1]
    assert first.deadline_at - first.created_at == WorkerPolicy().task_deadline


async def test_daily_limit_refuses_with_the_reset_time(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = service(ledger, clock, [], daily_limit=2)
    await svc.accept(t2v(), target(), "a")
    await svc.accept(t2v(), target(), "b")
    with pytest.raises(QuotaExceeded) as caught:
        await svc.accept(t2v(), target(), "c")
    assert caught.value.kind == "daily"
    assert "made 2 videos today" in str(caught.value) and "in 12h 00m" in str(caught.value)
    assert len(await svc.recent(target())) == 2  # the refusal recorded nothing
    await svc.accept(t2v(), target("U2"), "d")  # someone else is not affected
    clock.advance(12 * 3600 + 1)  # past midnight UTC
    await svc.accept(t2v(), target(), "e")


async def test_concurrent_limit_holds_under_a_simultaneous_burst(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = service(ledger, clock, [], user_concurrency=3)
    results = await asyncio.gather(
        *(svc.accept(t2v(), target(), f"k{i}") for i in range(10)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(accepted) == 3 and len(refused) == 7
    assert "3 videos in progress" in str(refused[0])
    task = accepted[0][0]
    await svc.cancel(task.ref, target())
    await svc.accept(t2v(), target(), "after-cancel")  # a slot came free


async def test_daily_limit_holds_under_a_simultaneous_burst(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = service(ledger, clock, [], daily_limit=3)
    results = await asyncio.gather(
        *(svc.accept(t2v(), target(), f"d{i}") for i in range(10)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(accepted), len(refused)) == (3, 7), results
    assert {r.kind for r in refused} == {"daily"}
    recorded = await ledger.find(TaskQuery(user_key=target().user_key, limit=100))
    assert len(recorded) == 3  # the refusals recorded nothing
    # Ending them does not give the day's videos back: the cap counts what was made.
    for task, _ in accepted:
        await svc.cancel(task.ref, target())
    with pytest.raises(QuotaExceeded, match="made 3 videos today"):
        await svc.accept(t2v(), target(), "d-after")


async def test_admins_are_exempt_and_allowlists_refuse_politely(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = service(
        ledger,
        clock,
        [],
        daily_limit=1,
        allowed_channels=frozenset({"C1"}),
        allowed_users=frozenset({"U1", "test:U9"}),
        admins=frozenset({"BOSS"}),
    )
    await svc.accept(t2v(), target("U1"), "a")
    with pytest.raises(QuotaExceeded):
        await svc.accept(t2v(), target("U1"), "b")
    with pytest.raises(ActionRefused, match="not enabled in this channel"):
        await svc.accept(t2v(), target("U9", channel="C2"), "c")
    with pytest.raises(ActionRefused, match="not on the list"):
        await svc.accept(t2v(), target("U3"), "d")
    guarded = service(ledger, clock, [], allowed_workspaces=frozenset({"discord:G1"}))
    with pytest.raises(ActionRefused, match="not enabled for this workspace or server"):
        await guarded.accept(t2v(), target("U1"), "ws")  # the test target's workspace is T1
    for i in range(3):
        await svc.accept(t2v(), target("BOSS", channel="C7"), f"boss-{i}")


async def test_cancel_rules(ledger: SqliteLedger, clock: FakeClock) -> None:
    svc = service(ledger, clock, [])
    task, _ = await svc.accept(t2v(), target(), "a")
    with pytest.raises(ActionRefused, match="belongs to someone else"):
        await svc.cancel(task.ref, target("U2"))
    with pytest.raises(NotFound, match="No task ZZZZZZ"):
        await svc.cancel("ZZZZZZ", target())
    cancelled = await svc.cancel(task.ref.lower(), target())
    assert cancelled.state is TaskState.CANCELLED
    with pytest.raises(ActionRefused, match="already ended"):
        await svc.cancel(task.ref, target())
    sending, _ = await svc.accept(t2v(), target(), "b")
    await ledger.save(sending, sending.submitting(clock.now()))
    with pytest.raises(ActionRefused, match="being sent right now"):
        await svc.cancel(sending.ref, target())


async def test_retry_flip_and_edit(ledger: SqliteLedger, clock: FakeClock) -> None:
    svc = service(ledger, clock, [])
    task, _ = await svc.accept(t2v(ratio="16:9"), target(), "a")
    with pytest.raises(ActionRefused, match="still running"):
        await svc.retry(task.ref, target(), "r0")
    await svc.cancel(task.ref, target())
    flipped, created = await svc.retry(task.ref, target(), "r1", aspect_ratio="9:16")
    assert created and flipped.request.aspect_ratio == "9:16" and flipped.retry_of == task.ref
    with pytest.raises(ActionRefused, match="no finished video"):
        await svc.edit(task.ref, "make it rain", target(), "e0")
    done = await ledger.get(flipped.ref)
    assert done is not None
    moved = done.submitting(clock.now()).submitted("p", clock.now(), clock.now())
    moved = moved.succeeded("http://sim/files/p.mp4", None, clock.now()).delivering(clock.now())
    moved = moved.delivered("f", clock.now())
    await ledger.save(done, moved)
    edit, _ = await svc.edit(flipped.ref, "make it rain", target("U2"), "e1")
    assert edit.request.mode is Mode.EDIT
    assert edit.request.video is not None and edit.request.video.url == "http://sim/files/p.mp4"
    assert edit.target.user_id == "U2"


async def _delivered(ledger: SqliteLedger, clock: FakeClock, svc: VideoService) -> Task:
    task, _ = await svc.accept(t2v(), target(), "to-edit")
    now = clock.now()
    moved = task.submitting(now).submitted("p", now, now)
    moved = moved.succeeded("http://sim/files/p.mp4", None, now).delivering(now)
    saved = await ledger.save(task, moved.delivered("f", now))
    assert saved is not None
    return saved


@pytest.mark.parametrize(
    ("instruction", "says"),
    [
        ("", "Describe the change"),
        ("   \n\t  ", "Describe the change"),  # what Discord's edit modal sends when left blank
        ("x" * 2001, "the limit is 2000"),
        ("make it rain\x00", "control characters"),
        ("\x1b[31mmake it red", "control characters"),
    ],
    ids=["empty", "whitespace", "too-long", "nul", "escape"],
)
async def test_edit_instructions_pass_the_prompt_checks(
    ledger: SqliteLedger, clock: FakeClock, instruction: str, says: str
) -> None:
    woken: Woken = []
    svc = service(ledger, clock, woken)
    done = await _delivered(ledger, clock, svc)
    with pytest.raises(CommandError, match=says):
        await svc.edit(done.ref, instruction, target("U2"), "e-bad")
    assert len(await ledger.find(TaskQuery(limit=10))) == 1  # nothing new, nothing to pay
    assert woken == [1]  # only the original accept woke the worker
    edit, created = await svc.edit(done.ref, "  make   it rain ", target("U2"), "e-ok")
    assert created and edit.request.prompt == "make it rain"


@pytest.mark.parametrize("prompt", ["  ", "x" * 2001, "a boat\x07"], ids=["blank", "long", "bel"])
async def test_accept_refuses_a_prompt_the_checks_refuse(
    ledger: SqliteLedger, clock: FakeClock, prompt: str
) -> None:
    svc = service(ledger, clock, [])
    with pytest.raises(CommandError):
        await svc.accept(t2v(prompt), target(), "bad-prompt")
    assert await ledger.find(TaskQuery(limit=10)) == []


def test_qualified_ids_match_the_platform() -> None:
    policy = AccessPolicy(admins=frozenset({"discord:42"}))
    assert policy.is_admin(ReplyTarget("discord", "g", "c", "42"))
    assert not policy.is_admin(ReplyTarget("slack", "g", "c", "42"))


async def test_edit_continues_the_provider_result_at_the_original_resolution(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    """"Edit this video" names the provider's task (Google continues from it without a new
    upload) and keeps the clip for the providers that need it, at the original's resolution."""
    hd = Profile(resolutions=("720p", "1080p"))
    svc = VideoService(ledger, WorkerPolicy(), clock.now, lambda: None, profile=hd)
    task, _ = await svc.accept(replace(t2v(), resolution="1080p"), target(), "hd")
    now = clock.now()
    moved = task.submitting(now).submitted("v1_interaction", now, now)
    moved = moved.succeeded("http://sim/files/hd.mp4", None, now).delivering(now)
    assert await ledger.save(task, moved.delivered("f", now)) is not None
    edit, _ = await svc.edit(task.ref, "make it rain", target("U2"), "e-hd")
    stored = await ledger.get(edit.ref)
    assert stored is not None
    assert stored.request.previous == "v1_interaction" and stored.request.resolution == "1080p"
    assert stored.request.video is not None
    assert stored.request.video.url == "http://sim/files/hd.mp4"


async def test_edit_is_refused_where_the_provider_offers_no_video_edit(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    no_edit = Profile(modes=frozenset({Mode.T2V, Mode.I2V}), provider="Example")
    svc = VideoService(ledger, WorkerPolicy(), clock.now, lambda: None, profile=no_edit)
    done = await _delivered(ledger, clock, svc)
    with pytest.raises(ActionRefused, match="Example does not offer video edit; it offers"):
        await svc.edit(done.ref, "make it rain", target("U2"), "e-none")
    assert len(await ledger.find(TaskQuery(limit=10))) == 1


async def test_a_retry_is_checked_against_the_profile_in_force_now(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    """A task made at 4k and 10 s under a wider profile is not run again, and paid again,
    once the operator narrowed the profile: a retry is checked like a new command."""
    wide = Profile(durations=(4, 10), resolutions=("720p", "4k"))
    old = VideoService(ledger, WorkerPolicy(), clock.now, lambda: None, profile=wide)
    task, _ = await old.accept(replace(t2v(), duration=10, resolution="4k"), target(), "4k")
    assert await ledger.save(task, task.cancelled(clock.now())) is not None
    narrow = Profile(durations=(4, 6), resolutions=("720p",), provider="Example")
    svc = VideoService(ledger, WorkerPolicy(), clock.now, lambda: None, profile=narrow)
    with pytest.raises(CommandError, match="not 10"):
        await svc.retry(task.ref, target(), "again")
