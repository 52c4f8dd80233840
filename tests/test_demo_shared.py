"""A scripted demo on a shared PostgreSQL ledger exits once every task it started has ended,
whoever ended it: here a demo of another provider resumes a task only the first demo's worker
may work (each worker works its own provider's tasks), the task is cancelled from the command
line, and the second demo says so in its console's words and exits, with real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.pg import pg_databases, pg_url
from tests.process_harness import bot_process, clean_env, run_bot

__all__ = ["pg_databases", "pg_url"]

KEY = "sk-shared-demo-key-0001"


@pytest.fixture
async def slow_sim() -> AsyncIterator[RunningSimulator]:
    """Renders outlast the test: only a cancel ends the task."""
    running = await start_simulator(SimConfig(render_seconds=300, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


async def test_a_scripted_demo_exits_when_another_process_ended_its_task(
    tmp_path: Path, pg_url: str, slow_sim: RunningSimulator
) -> None:
    shared = {"VIDEOBOT_DATABASE_URL": pg_url, "VIDEOBOT_DB": str(tmp_path / "unused.db")}
    guide = clean_env(
        tmp_path,
        {
            **shared,
            "VIDEO_API_URL": slow_sim.url,
            "VIDEO_API_KEY": KEY,
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "true",
        },
    )
    google = clean_env(tmp_path, {**shared, "VIDEOBOT_PROVIDER": "google"})
    async with bot_process(["demo"], tmp_path, guide) as first:
        first.send("/video a heron in the reeds\n")
        ref = (await first.expect("Got it: task")).split("task ")[1].split(" ")[0]
        async with bot_process(["demo"], tmp_path, google) as second:
            await second.close_stdin()  # scripted: nothing to type, its resumed task to wait for
            assert ref in await second.expect("Resuming one task")
            code, _, err = await run_bot(["tasks", "cancel", ref], tmp_path, guide)
            assert code == 0, err
            await first.expect(f"└ {ref}")  # the first demo's worker told its console
            assert await second.wait() == 0, second.stderr()
        said = next(line for line in first.lines if line.startswith(f"└ {ref}"))
        assert said in second.lines  # the same words, though the second demo did not end it
        await first.close_stdin()
        assert await first.wait() == 0, first.stderr()
