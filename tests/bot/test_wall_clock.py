"""The wall clock is not to be trusted: NTP steps it, a VM resumed from a snapshot jumps it by
hours, either way. Deadlines run on monotonic time, polling carries on through a step in either
direction, and a task past its deadline is asked about once more before it is given up."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain import TaskState
from tests.conftest import TEST_POLICY, Engine, EngineFactory, t2v, target

HOURS = 3600.0


def polls(engine: Engine) -> int:
    return sum(engine.sim.simulator.snapshot()["polls_by_task"].values())


async def test_a_wall_clock_jump_forward_times_nothing_out_and_polling_goes_on(
    engine: Engine,
) -> None:
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()  # submitted
    engine.clock.advance(8)
    await engine.worker.step()  # polled: rendering
    before = polls(engine)
    engine.clock.step_wall(+3 * HOURS)  # deadline is 30 min: the wall says long past it
    await engine.worker.step()
    row = await engine.ledger.get(task.ref)
    assert row is not None and row.state in (TaskState.SUBMITTED, TaskState.RUNNING)
    assert polls(engine) == before + 1
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert len(engine.chat.uploads) == 1


async def test_a_wall_clock_jump_back_does_not_stop_polling(engine: Engine) -> None:
    first, _ = await engine.service.accept(t2v("before the jump"), target(), "evt-1")
    await engine.worker.step()
    engine.clock.advance(8)
    await engine.worker.step()
    engine.clock.step_wall(-2 * HOURS)  # every check scheduled so far is now hours away
    row = await engine.ledger.get(first.ref)
    assert row is not None and row.status_message_id is not None
    shown_before = len(engine.chat.posts[row.status_message_id])
    second, _ = await engine.service.accept(t2v("after the jump"), target("U2"), "evt-2")
    await engine.run_until_idle(max_steps=120)
    for task in (first, second):
        done = await engine.ledger.get(task.ref)
        assert done is not None and done.state is TaskState.DELIVERED
    assert polls(engine) <= 30  # brought back, not polled in a tight loop
    # Progress edits went on too: the last edit is not "hours in the future" by the new clock.
    after = engine.chat.posts[row.status_message_id][shown_before:]
    assert [v.state for v in after if not v.final], [v.state for v in after]


async def test_a_task_past_its_deadline_is_polled_once_more_and_delivered_if_done(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=replace(TEST_POLICY, task_deadline=timedelta(minutes=1)))
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()  # submitted; the render takes 22 s at the provider
    engine.clock.advance(120)  # the worker was away past the deadline; the video is ready
    await engine.run_until_idle()
    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert engine.chat.final_views()[0].state == "delivered"


async def test_a_task_still_rendering_at_its_deadline_times_out_after_one_last_poll(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=replace(TEST_POLICY, task_deadline=timedelta(minutes=1)))
    engine.sim.simulator.config = replace(engine.sim.simulator.config, never_finish_rate=1.0)
    task, _ = await engine.service.accept(t2v(), target(), "evt")
    await engine.worker.step()
    engine.clock.advance(8)
    await engine.worker.step()
    assert polls(engine) == 1
    engine.clock.advance(120)
    await engine.run_until_idle()
    ended = await engine.ledger.get(task.ref)
    assert ended is not None and ended.state is TaskState.TIMED_OUT
    assert polls(engine) == 2  # asked once more, then given up
    assert len(engine.chat.final_views()) == 1
