"""Pure transitions of the task state machine and the timing policy (plain datetimes, no I/O)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import Mode, TaskState
from bot.policy import (
    IntakeGate,
    RenderHistory,
    WorkerPolicy,
    backoff,
    next_poll_delay,
    predicted_remaining,
)
from bot.task import InvalidTransition, Task
from tests.conftest import t2v, target

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def accepted() -> Task:
    return Task(
        task_id="t" * 32,
        ref="ABC123",
        idem_key="k",
        request=t2v(),
        target=target(),
        state=TaskState.ACCEPTED,
        created_at=T0,
        updated_at=T0,
        deadline_at=T0 + timedelta(hours=1),
        next_check_at=T0,
    )


def test_happy_path() -> None:
    t = accepted().submitting(T0)
    # Still due: only its sender's lease keeps it from another claim, until that lapses.
    assert t.state is TaskState.SUBMITTING and t.next_check_at == accepted().next_check_at
    t = t.submitted("task_1", T0, T0 + timedelta(seconds=5))
    assert t.provider_task_id == "task_1" and t.submitted_at == T0
    t = t.polled(True, 40, T0 + timedelta(seconds=5), T0 + timedelta(seconds=10))
    assert (t.state, t.progress, t.polls) == (TaskState.RUNNING, 40, 1)
    t = t.succeeded("http://x/v.mp4", None, T0 + timedelta(seconds=12))
    assert t.state is TaskState.SUCCEEDED and t.progress == 100
    t = t.delivering(T0).delivered("file-1", T0 + timedelta(seconds=13))
    assert t.state is TaskState.DELIVERED and t.next_check_at is not None
    assert t.notified(T0).next_check_at is None


def test_polled_queued_stays_submitted_and_running_never_goes_back() -> None:
    t = accepted().submitting(T0).submitted("p", T0, T0)
    assert t.polled(False, 0, T0, T0).state is TaskState.SUBMITTED
    running = t.polled(True, 10, T0, T0)
    assert running.polled(False, None, T0, T0).state is TaskState.RUNNING
    assert running.polled(False, None, T0, T0).progress == 10


@pytest.mark.parametrize(
    "move",
    [
        lambda t: t.submitted("p", T0, T0),  # accepted cannot skip submitting
        lambda t: t.delivering(T0),
        lambda t: t.unknown("x", T0),
        lambda t: t.notified(T0),  # a live task cannot be marked told
    ],
)
def test_illegal_transitions_raise(move: object) -> None:
    with pytest.raises(InvalidTransition):
        move(accepted())  # type: ignore[operator]


def test_ended_tasks_cannot_be_cancelled_or_timed_out() -> None:
    ended = accepted().cancelled(T0)
    with pytest.raises(InvalidTransition):
        ended.cancelled(T0)
    with pytest.raises(InvalidTransition):
        ended.timed_out(T0)


def test_requeue_counts_attempts_and_keeps_the_note() -> None:
    t = accepted().submitting(T0).requeued(T0, T0 + timedelta(seconds=4), "at capacity")
    assert (t.state, t.attempts, t.note) == (TaskState.ACCEPTED, 1, "at capacity")


def test_nonce_fits_discord() -> None:
    assert len(accepted().nonce("status")) <= 25


def test_with_media_keeps_order() -> None:
    from tests.bot.test_commands import CLIP, image

    request = replace(t2v(), mode=Mode.EDIT, images=(), video=CLIP)
    staged = request.with_media((replace(CLIP, url="http://u/c"),))
    assert staged.video is not None and staged.video.url == "http://u/c"
    request = replace(t2v(), mode=Mode.R2V, images=(image(1), image(2)))
    urls = tuple(replace(m, url=f"u{i}") for i, m in enumerate(request.media))
    assert [m.url for m in request.with_media(urls).images] == ["u0", "u1"]


POLICY = WorkerPolicy(poll_floor=timedelta(seconds=1), poll_ceiling=timedelta(seconds=15))


def test_remaining_is_predicted_from_progress_then_history() -> None:
    assert predicted_remaining(timedelta(seconds=20), 25, None) == timedelta(seconds=60)
    assert predicted_remaining(timedelta(seconds=40), 80, None) == timedelta(seconds=10)
    expected = timedelta(seconds=60)
    assert predicted_remaining(timedelta(seconds=55), None, expected) == timedelta(seconds=5)
    assert predicted_remaining(timedelta(seconds=5), None, None) is None


def test_poll_delay_aims_at_the_predicted_finish_within_bounds() -> None:
    def delay(remaining: float) -> timedelta:
        return next_poll_delay(timedelta(seconds=20), timedelta(seconds=remaining), 0, POLICY)

    assert delay(60) == timedelta(seconds=36)  # 60 % of the way: the estimate will sharpen
    assert delay(600) == POLICY.predicted_ceiling  # a long render is still looked at
    assert delay(12) == timedelta(seconds=10)  # never less than the aiming distance
    assert delay(7) == timedelta(seconds=7)  # close: aim at the finish itself


def test_a_short_predicted_ceiling_holds_near_the_finish_too() -> None:
    """The demo polls every 2 s so its bars move; close to the finish the delay used to be the
    whole remaining time, and a bar stood still for its last ten seconds."""
    demo = replace(POLICY, predicted_ceiling=timedelta(seconds=2))
    for remaining in (3, 7, 9.5, 30):
        delay = next_poll_delay(timedelta(seconds=20), timedelta(seconds=remaining), 0, demo)
        assert delay == timedelta(seconds=2)


def test_a_sixty_second_render_costs_at_most_four_polls() -> None:
    """Replay the policy on a render whose progress is linear over 60 s (1 s queue)."""
    t, polls = 5.0, 1  # the first poll, at first_poll
    while t < 61:
        progress = max(1, int((t - 1) / 60 * 100))
        remaining = predicted_remaining(timedelta(seconds=t), progress, None)
        t += next_poll_delay(timedelta(seconds=t), remaining, 0, POLICY).total_seconds()
        polls += 1
    assert polls <= 4 and t - 61 < 1.5


def test_overdue_polls_back_off_from_the_floor() -> None:
    delays = [next_poll_delay(timedelta(seconds=70), timedelta(0), n, POLICY) for n in range(1, 9)]
    assert delays[0] < delays[3] < delays[-1] == POLICY.poll_ceiling
    assert all(POLICY.poll_floor <= d for d in delays)


def test_poll_delay_without_any_prediction_is_bounded() -> None:
    for elapsed in (0, 1, 5, 100, 10_000):
        delay = next_poll_delay(timedelta(seconds=elapsed), None, 0, POLICY)
        assert POLICY.poll_floor <= delay <= POLICY.poll_ceiling


def test_backoff_is_full_jitter_under_the_cap() -> None:
    rng = random.Random(0)
    delays = [backoff(n, timedelta(seconds=1), timedelta(seconds=30), rng) for n in range(12)]
    assert all(timedelta(0) <= d <= timedelta(seconds=30) for d in delays)
    assert max(delays[8:]) > timedelta(seconds=4)  # grows


def test_render_history_is_a_moving_mean() -> None:
    history = RenderHistory()
    assert history.expected(Mode.T2V, 6) is None
    history.record(Mode.T2V, 6, timedelta(seconds=60))
    history.record(Mode.T2V, 6, timedelta(seconds=40))
    assert (
        timedelta(seconds=40)
        < (history.expected(Mode.T2V, 6) or timedelta(0))
        < timedelta(seconds=60)
    )


def test_the_intake_gate_holds_background_steps_while_commands_arrive() -> None:
    gate = IntakeGate(quiet=0.02, hold_max=1.0)
    assert gate.hold(100.0) == 0  # nothing has arrived: go
    gate.arrived(100.0)
    assert gate.hold(100.005) == pytest.approx(0.015)  # until 20 ms after the last command
    gate.arrived(100.010)
    assert gate.hold(100.012) == pytest.approx(0.018)
    assert gate.hold(100.031) == 0  # the commands paused: go


def test_a_steady_command_stream_slows_the_worker_but_never_stops_it() -> None:
    gate = IntakeGate(quiet=0.02, hold_max=1.0)
    held = ran = 0
    for ms in range(5000):  # a command every millisecond for 5 s, the gate asked each time
        now = 100 + ms / 1000
        gate.arrived(now)
        if gate.hold(now) > 0:
            held += 1
        else:
            ran += 1
    assert 2000 <= ran <= 3000 and held == 5000 - ran  # about half the time each


def test_a_zero_quiet_turns_the_gate_off() -> None:
    gate = IntakeGate(quiet=0, hold_max=1.0)
    gate.arrived(5.0)
    assert gate.hold(5.0) == 0
