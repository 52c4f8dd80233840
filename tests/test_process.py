"""One process owns a ledger, proved with real processes: a second `videobot demo` on the same
ledger is refused with one line naming the holder's pid while the first keeps working; the lock
dies with its holder (SIGKILL); `tasks` and `doctor` still read a served ledger; a demo never
works another platform's tasks."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from bot.domain import Mode, ReplyTarget, TaskState, VideoRequest
from bot.policy import WorkerPolicy
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.process_harness import bot_process, clean_env, run_bot

KEY = "sk-process-test-key-0001"


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSimulator]:
    """A simulator on the real clock: the child processes live in real time."""
    running = await start_simulator(SimConfig(render_seconds=1.0, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


def demo_env(tmp_path: Path, sim: RunningSimulator, db: Path) -> dict[str, str]:
    return clean_env(
        tmp_path,
        {
            "VIDEO_API_URL": sim.url,
            "VIDEO_API_KEY": KEY,
            "VIDEOBOT_DB": str(db),
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "true",
        },
    )


async def test_a_second_demo_on_a_served_ledger_is_refused_and_the_first_keeps_working(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    db = tmp_path / "shared.db"
    env = demo_env(tmp_path, live_sim, db)
    async with bot_process(["demo"], tmp_path, env) as first:
        first.send("/video a lighthouse in a storm\n")
        await first.expect("Got it: task")
        code, out, err = await run_bot(["demo"], tmp_path, env, "/video a second opinion\n")
        assert code != 0
        assert err.strip().splitlines() == [err.strip()]  # one line, nothing else
        assert f"pid {first.pid}" in err
        assert "VIDEOBOT_DB" in err
        assert out == ""
        await first.close_stdin()
        assert await first.wait() == 0, first.stderr()
        assert "✅ Done" in first.stdout
    assert live_sim.simulator.stats.tasks_created == 1


async def test_the_lock_dies_with_a_killed_holder(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    env = demo_env(tmp_path, live_sim, tmp_path / "killed.db")
    async with bot_process(["demo"], tmp_path, env) as first:
        first.send("/video a moth at a lamp\n")
        await first.expect("Got it: task")
        first.signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
    code, _, err = await run_bot(["demo"], tmp_path, env, "/video after the crash\n")
    assert code == 0, err
    assert "in use" not in err


async def test_tasks_and_doctor_read_a_served_ledger_and_a_cli_cancel_reaches_it(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    slow = await start_simulator(SimConfig(render_seconds=300, queue_seconds=0.2, api_key=KEY))
    try:
        env = demo_env(tmp_path, slow, tmp_path / "served.db")
        async with bot_process(["demo"], tmp_path, env) as bot:
            bot.send("/video a glacier calving\n")
            ref = (await bot.expect("Got it: task")).split("task ")[1].split(" ")[0]
            code, out, err = await run_bot(["tasks", "--json"], tmp_path, env)
            assert code == 0, err
            assert ref in out
            code, out, err = await run_bot(["doctor", "--offline"], tmp_path, env)
            assert f"served by pid {bot.pid}" in out, out + err
            code, out, err = await run_bot(["tasks", "cancel", ref], tmp_path, env)
            assert code == 0, err
            await bot.close_stdin()
            assert await bot.wait() == 0, bot.stderr()
            assert "Cancelled" in bot.stdout or "cancelled" in bot.stdout
    finally:
        await slow.close()


async def test_the_demo_never_works_another_platforms_tasks(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    db = tmp_path / "bots.db"
    now = datetime.now(UTC)
    policy = WorkerPolicy()
    async with SqliteLedger.open(db) as ledger:
        service = VideoService(ledger, policy, lambda: now, lambda: None)
        request = VideoRequest("a slack task", Mode.T2V, aspect_ratio="16:9", duration=6)
        slack = ReplyTarget("slack", "T1", "C1", "U1", None, "alice")
        waiting, _ = await service.accept(request, slack, "slack:waiting")
        sending, _ = await service.accept(request, slack, "slack:sending")
        sending = await ledger.save(sending, sending.submitting(now - timedelta(minutes=5)))
        assert sending is not None
    code, out, err = await run_bot(
        ["demo"], tmp_path, demo_env(tmp_path, live_sim, db), "/video a console task\n"
    )
    assert code == 0, err
    assert out.count("✅ Done") == 1
    assert live_sim.simulator.stats.tasks_created == 1
    async with SqliteLedger.open(db) as ledger:
        after_waiting = await ledger.get(waiting.task_id)
        after_sending = await ledger.get(sending.task_id)
    assert after_waiting is not None and after_sending is not None
    assert (after_waiting.state, after_waiting.version) == (TaskState.ACCEPTED, waiting.version)
    assert (after_sending.state, after_sending.version) == (TaskState.SUBMITTING, sending.version)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_ends_the_demo_mid_render_with_exit_0(
    tmp_path: Path, sig: signal.Signals
) -> None:
    slow = await start_simulator(SimConfig(render_seconds=300, queue_seconds=0.2, api_key=KEY))
    try:
        env = demo_env(tmp_path, slow, tmp_path / "signalled.db")
        async with bot_process(["demo"], tmp_path, env) as bot:
            bot.send("/video a very slow sunset\n")
            await bot.expect("Got it: task")
            await bot.expect("Rendering")
            bot.signal(sig)
            assert await bot.wait(within=10) == 0, bot.stderr()
    finally:
        await slow.close()
