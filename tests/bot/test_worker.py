"""The worker against the real simulator and ledger file: every path of the state machine,
crash recovery, and that money is never spent twice (the simulator's own counters prove it)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from PIL import Image

from adapters.media.intake import MediaIntake
from bot import messages
from bot.domain import Mode, Profile, ReplyTarget, TaskState, VideoRequest
from bot.errors import DeliveryError, DeliveryTransient
from bot.ports import Checkpoint, Delivery
from bot.worker import Worker
from tests.conftest import (
    SIM_KEY,
    TEST_POLICY,
    Engine,
    EngineFactory,
    fake_clock_worker,
    t2v,
    target,
)


def sim_config(engine: Engine, **changes: object) -> None:
    engine.sim.simulator.config = replace(engine.sim.simulator.config, **changes)  # type: ignore[arg-type]


def sim_state(engine: Engine) -> dict[str, object]:
    return engine.sim.simulator.snapshot()


def restarted(engine: Engine, resubmit_safe: bool = False) -> Engine:
    """A new worker process on the same ledger file (the old one's memory is gone)."""
    worker = fake_clock_worker(
        engine.ledger,
        engine.provider,
        engine.chat,
        engine.clock,
        Path("/tmp") / "videobot-test-scratch",
        seed=5,
        resubmit_safe=resubmit_safe,
    )
    return replace(engine, worker=worker)


async def test_restart_mid_flight_finishes_every_task_once(engine: Engine) -> None:
    refs = []
    for i in range(5):
        task, _ = await engine.service.accept(t2v(f"scene {i}"), target(f"U{i}"), f"evt-{i}")
        refs.append(task.ref)
    await engine.worker.step()  # submitted
    engine.clock.advance(8)
    await engine.worker.step()  # polled, running
    states = {(await engine.ledger.get(r)).state for r in refs}  # type: ignore[union-attr]
    assert states <= {TaskState.SUBMITTED, TaskState.RUNNING}

    second = restarted(engine)
    assert await second.worker.recover() == 0
    await second.run_until_idle()
    for ref in refs:
        task = await engine.ledger.get(ref)
        assert task is not None and task.state is TaskState.DELIVERED
    state = sim_state(engine)
    assert state["tasks_created"] == 5
    assert set(state["submits_by_prompt"].values()) == {1}  # type: ignore[attr-defined]
    assert sorted(u.key for u in engine.chat.uploads) == sorted(
        {u.key for u in engine.chat.uploads}
    )
    assert len(engine.chat.uploads) == 5


async def test_crash_while_submitting_becomes_unknown_and_is_never_resent(engine: Engine) -> None:
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    # The process died after writing `submitting` and before the answer was recorded.
    await engine.ledger.save(task, task.submitting(engine.clock.now()))
    second = restarted(engine)
    assert await second.worker.recover() == 1
    await second.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNKNOWN
    final = engine.chat.final_views()
    assert len(final) == 1 and "cannot tell whether" in final[0].detail
    assert [b.action for b in final[0].buttons][0] == "retry"
    engine.clock.advance(600)
    await second.worker.step()
    assert sim_state(engine)["tasks_created"] == 0

    again, _ = await engine.service.retry(task.ref, target(), "evt-retry")
    await second.run_until_idle()
    retried = await engine.ledger.get(again.ref)
    assert retried is not None and retried.state is TaskState.DELIVERED
    assert retried.retry_of == task.ref
    assert sim_state(engine)["tasks_created"] == 1


async def test_with_an_idempotency_key_an_interrupted_submit_is_resent_safely(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(idempotent=True)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()  # really submitted, with Idempotency-Key = task_id
    stored = await engine.ledger.get(task.ref)
    assert stored is not None and stored.state is TaskState.SUBMITTED
    # Pretend the answer was lost: put the row back in `submitting`, as a crash would leave it.
    rewound = replace(stored, state=TaskState.SUBMITTING, provider_task_id=None, next_check_at=None)
    await engine.ledger.save(stored, rewound)
    second = restarted(engine, resubmit_safe=True)
    await second.worker.recover()
    await second.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    state = sim_state(engine)
    assert state["tasks_created"] == 1
    assert state["submits_by_key"] == {task.task_id: 2}


async def test_accept_then_drop_ends_unknown_with_exactly_one_provider_task(engine: Engine) -> None:
    sim_config(engine, drop_after_submit=1.0)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNKNOWN
    assert sim_state(engine)["tasks_created"] == 1
    assert sim_state(engine)["dropped"] == 1


async def test_bad_request_is_rejected_with_the_reason_and_nothing_is_created(
    engine: Engine,
) -> None:
    sim_config(engine, durations=[4, 6])  # the gateway narrowed what it takes; we did not know
    task, _ = await engine.service.accept(t2v(duration=10), target(), "evt")
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.REJECTED
    assert "duration must be one of [4, 6]" in (ended.error_message or "")
    assert "Nothing was charged" in engine.chat.final_views()[0].detail
    assert sim_state(engine)["tasks_created"] == 0


async def test_wrong_key_holds_the_queue_then_resumes_without_restart(engine: Engine) -> None:
    sim_config(engine, api_key="sk-the-operator-rotated-it")
    first, _ = await engine.service.accept(t2v("one"), target(), "e1")
    second, _ = await engine.service.accept(t2v("two"), target("U2"), "e2")
    await engine.worker.step()
    for ref in (first.ref, second.ref):
        held = await engine.ledger.get(ref)
        assert held is not None and held.state is TaskState.ACCEPTED
        assert "misconfigured" in (held.note or "")
    views = [engine.chat.last_view(m) for m in engine.chat.posts]
    assert all("misconfigured" in v.detail for v in views)
    refused = sim_state(engine)["responses_401"]
    engine.clock.advance(30)
    await engine.worker.step()
    assert sim_state(engine)["responses_401"] == refused  # held back, not hammering the API
    sim_config(engine, api_key=SIM_KEY)  # the operator fixes the key
    engine.clock.advance(61)
    await engine.run_until_idle()
    for ref in (first.ref, second.ref):
        done = await engine.ledger.get(ref)
        assert done is not None and done.state is TaskState.DELIVERED


async def test_a_wall_clock_step_back_does_not_hold_the_queue_for_hours(engine: Engine) -> None:
    sim_config(engine, api_key="sk-the-operator-rotated-it")
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()  # the key is refused: the queue is held for a minute
    sim_config(engine, api_key=SIM_KEY)  # the operator fixes the key
    engine.clock.step_wall(-7200)  # NTP sets the clock two hours back
    engine.clock.advance(61)
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED


async def test_rate_limited_submit_waits_for_capacity_then_goes_out_once(engine: Engine) -> None:
    sim_config(engine, rate_429=1.0, retry_after=0.01)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    held = await engine.ledger.get(task.ref)
    assert held is not None and held.state is TaskState.ACCEPTED
    assert "at capacity" in engine.chat.last_view(held.status_message_id or "").detail
    sim_config(engine, rate_429=0.0)
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert sim_state(engine)["tasks_created"] == 1


async def test_polls_survive_500s_and_429s(engine: Engine) -> None:
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    sim_config(engine, rate_500=0.5, rate_429=0.3, retry_after=0.01)
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert sim_state(engine)["tasks_created"] == 1


async def test_content_policy_failure_is_explained_and_not_retried(engine: Engine) -> None:
    task, _ = await engine.service.accept(t2v("a forbidden scene"), target(), "evt")
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.FAILED
    assert ended.error_code == "content_policy_violation"
    final = engine.chat.final_views()[0]
    assert "content policy" in final.detail and "Rephrase" in final.detail
    engine.clock.advance(3600)
    await engine.worker.step()
    assert sim_state(engine)["tasks_created"] == 1


async def test_a_render_that_never_ends_times_out_at_the_deadline(
    make_engine: EngineFactory,
) -> None:
    policy = replace(TEST_POLICY, task_deadline=timedelta(minutes=3))
    engine = make_engine(policy=policy)
    sim_config(engine, never_finish_rate=1.0)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle(step_seconds=5)
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.TIMED_OUT
    assert ended.updated_at - ended.created_at < timedelta(minutes=3, seconds=20)
    polls = sim_state(engine)["polls_by_task"]
    assert sum(polls.values()) <= 30  # type: ignore[attr-defined]  # bounded, not one a second


async def test_cancel_while_rendering_posts_nothing(engine: Engine) -> None:
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    cancelled = await engine.service.cancel(task.ref, target())
    assert cancelled.state is TaskState.CANCELLED
    await engine.run_until_idle()
    assert engine.chat.uploads == []
    assert "may still bill" in engine.chat.final_views()[0].detail


async def test_a_flaky_upload_is_retried_into_one_post(engine: Engine) -> None:
    engine.chat.upload_failures.append(DeliveryTransient("502 from the chat API"))
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert len(engine.chat.uploads) == 1


async def test_an_upload_that_keeps_failing_falls_back_to_the_link(engine: Engine) -> None:
    engine.chat.upload_failures.extend(DeliveryTransient("503") for _ in range(10))
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle(step_seconds=30)
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNDELIVERABLE
    assert len(engine.chat.links) == 1 and "/files/" in engine.chat.links[0]
    assert "Download it before" in engine.chat.final_views()[0].detail


async def test_a_refused_upload_falls_back_at_once(engine: Engine) -> None:
    engine.chat.upload_failures.append(DeliveryError("file too large for this server"))
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNDELIVERABLE
    assert "too large" in (ended.error_message or "")


async def test_crash_after_upload_before_ledger_write_does_not_post_twice(engine: Engine) -> None:
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    # Rewind the row to `delivering`, as if the process died right after the upload.
    rewound = replace(done, state=TaskState.DELIVERING, next_check_at=done.updated_at)
    await engine.ledger.save(done, rewound)
    second = restarted(engine)
    await second.run_until_idle()
    assert len(engine.chat.uploads) == 1
    again = await engine.ledger.get(task.ref)
    assert again is not None and again.state is TaskState.DELIVERED


async def test_a_result_that_expired_before_download_is_explained(engine: Engine) -> None:
    sim_config(engine, result_ttl=1.0)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    engine.clock.advance(60)  # the bot was away far longer than the link lives
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.UNDELIVERABLE
    assert "expired before I could fetch it" in engine.chat.final_views()[0].detail
    assert engine.chat.uploads == []


async def test_status_edits_are_coalesced(make_engine: EngineFactory) -> None:
    # Polls every 2 s (no prediction can stretch them), edits at most every 10 s.
    policy = replace(
        TEST_POLICY,
        status_interval=timedelta(seconds=10),
        poll_ceiling=timedelta(seconds=2),
        predicted_ceiling=timedelta(seconds=2),
    )
    engine = make_engine(policy=policy)
    sim_config(engine, render_seconds=60.0)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.run_until_idle(step_seconds=1)
    done = await engine.ledger.get(task.ref)
    assert done is not None
    views = engine.chat.posts[done.status_message_id or ""]
    polls = sum(sim_state(engine)["polls_by_task"].values())  # type: ignore[attr-defined]
    assert polls >= 20  # every poll saw new progress...
    assert len(views) <= 10  # ...but the message was edited about every 10 s, not every 2 s
    assert views[-1].state == "delivered"


async def test_new_work_wakes_the_running_loop_at_once(engine: Engine) -> None:
    posted = asyncio.Event()
    original = engine.chat.post_status

    async def noticing(*args: object) -> str:
        posted.set()
        return await original(*args)  # type: ignore[arg-type]

    engine.chat.post_status = noticing  # type: ignore[method-assign]
    stop = asyncio.Event()
    runner = asyncio.create_task(engine.worker.run(stop))
    await asyncio.sleep(0)  # let the loop reach its idle wait (the fake clock never moves)
    await engine.service.accept(t2v(), target(), "evt")
    await asyncio.wait_for(posted.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(runner, timeout=5)


async def test_image_to_video_stages_the_image_through_the_upload_endpoint(
    engine: Engine, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    media = await MediaIntake(tmp_path / "media", Profile()).from_bytes(
        buffer.getvalue(), "cat.png"
    )
    request = VideoRequest("the cat waves", Mode.I2V, "16:9", 6, images=(media,))
    task, _ = await engine.service.accept(request, target(), "evt")
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert done.request.images[0].url and "/uploads/" in done.request.images[0].url
    assert sim_state(engine)["uploads"] == 1


async def test_provider_cap_is_shared_fairly_and_queued_tasks_show_their_place(
    make_engine: EngineFactory,
) -> None:
    from bot.domain import AT_PROVIDER_STATES

    engine = make_engine(policy=replace(TEST_POLICY, provider_concurrency=2))
    hog = [
        (await engine.service.accept(t2v(f"hog {i}"), target("A"), f"a{i}"))[0] for i in range(6)
    ]
    solo, _ = await engine.service.accept(t2v("solo"), target("B"), "b0")
    await engine.worker.step()
    assert sim_state(engine)["tasks_created"] == 2
    started = await engine.ledger.get(solo.ref)
    assert started is not None and started.state is TaskState.SUBMITTED  # not behind A's burst
    waiting = await engine.ledger.get(hog[-1].ref)
    assert waiting is not None and waiting.state is TaskState.ACCEPTED
    assert "Position" in engine.chat.last_view(waiting.status_message_id or "").detail
    for _ in range(400):
        await engine.worker.step()
        assert await engine.ledger.count(AT_PROVIDER_STATES) <= 2
        if await engine.ledger.next_due_at() is None:
            break
        engine.clock.advance(1)
    for task in (*hog, solo):
        done = await engine.ledger.get(task.ref)
        assert done is not None and done.state is TaskState.DELIVERED
    assert sim_state(engine)["tasks_created"] == 7


async def test_a_deleted_status_message_is_posted_again(engine: Engine) -> None:
    from bot.errors import MessageGone

    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    first = (await engine.ledger.get(task.ref)).status_message_id  # type: ignore[union-attr]
    engine.chat.update_failures.append(MessageGone("message_not_found"))
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert done.status_message_id != first
    assert engine.chat.last_view(done.status_message_id or "").state == "delivered"
    assert len(engine.chat.uploads) == 1


async def test_a_crash_between_posting_the_status_and_saving_it_posts_once(
    engine: Engine,
) -> None:
    from tests.fakes.chat import FindingChat

    chat = FindingChat(ledger=engine.ledger)
    worker = Worker(
        engine.ledger,
        engine.provider,
        {"test": chat},
        TEST_POLICY,
        engine.clock.now,
        monotonic=engine.clock.monotonic,
        scratch_dir=Path("/tmp") / "videobot-test-scratch",
    )
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    # What a crash right after the platform accepted the post leaves behind: the marker
    # written before posting, the post on the platform, no message id in the ledger.
    await engine.ledger.save(task, task.status_post_started(engine.clock.now()))
    view = messages.status_view(task, engine.clock.now())
    await chat.post_status(task.target, view, task.nonce("s"))
    await replace(engine, worker=worker, chat=chat).run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert list(chat.posts) == ["m1"]  # found after the restart, not posted again
    assert done.status_message_id == "m1" and chat.last_view("m1").state == "delivered"
    assert chat.marked_before_post == [True]

    other, _ = await engine.service.accept(t2v("fresh"), target(), "evt-2")
    await replace(engine, worker=worker, chat=chat).run_until_idle()
    assert chat.marked_before_post == [True, True]  # the marker is always written first


async def test_a_task_changed_elsewhere_mid_upload_posts_nothing_more(
    engine: Engine, tmp_path: Path
) -> None:
    """Another writer moves the row while the chat is uploading: the checkpoint finds it
    changed, and the worker leaves the task alone: no video, and no fallback link either."""
    from tests.fakes.chat import FakeChat

    class ChangedMidUpload(FakeChat):
        async def upload_video(
            self,
            target: ReplyTarget,
            status_message_id: str | None,
            delivery: Delivery,
            checkpoint: Checkpoint,
        ) -> str:
            row = await engine.ledger.get(task.ref)
            assert row is not None
            await engine.ledger.save(row, replace(row, note="changed by another writer"))
            await checkpoint("upload-1")
            return await super().upload_video(target, status_message_id, delivery, checkpoint)

    chat = ChangedMidUpload()
    worker = Worker(
        engine.ledger,
        engine.provider,
        {"test": chat},
        TEST_POLICY,
        engine.clock.now,
        monotonic=engine.clock.monotonic,
        scratch_dir=tmp_path / "scratch",
    )
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    runner = replace(engine, worker=worker, chat=chat)
    for _ in range(600):
        current = await engine.ledger.get(task.ref)
        if current is not None and current.note == "changed by another writer":
            break
        engine.clock.advance(1)
        await runner.worker.step()
    current = await engine.ledger.get(task.ref)
    assert current is not None and current.state is TaskState.DELIVERING
    assert chat.uploads == [] and chat.links == []
