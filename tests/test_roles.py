"""`videobot run --role intake` and `--role worker` as two real processes on one PostgreSQL
ledger, with Slack (Socket Mode) faked: the intake takes the command and records it, the
worker (which never opens a Slack connection) submits, polls and posts the video into the
thread through the Web API."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.adapters.slack.test_socket import envelope
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.pg import pg_databases, pg_url
from tests.process_harness import READY_WITHIN, bot_process, clean_env

__all__ = ["pg_databases", "pg_url"]
KEY = "sk-roles-test-key-0003"


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimConfig(render_seconds=1.0, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


async def test_an_intake_records_and_a_separate_worker_delivers(
    tmp_path: Path, live_sim: RunningSimulator, pg_url: str
) -> None:
    slack = await FakeSlack().start()
    env = clean_env(
        tmp_path,
        {
            "VIDEO_API_URL": live_sim.url,
            "VIDEO_API_KEY": KEY,
            "VIDEOBOT_DATABASE_URL": pg_url,
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": slack.api_url,
            "VIDEOBOT_FIRST_POLL": "1",
            "VIDEOBOT_LOG_LEVEL": "INFO",
        },
    )
    try:
        async with (
            bot_process(["run", "--role", "intake"], tmp_path, env) as intake,
            bot_process(["run", "--role", "worker"], tmp_path, env) as worker,
        ):
            await intake.expect("videobot running (intake)", stderr=True)
            await worker.expect("videobot running (worker)", stderr=True)
            await slack.wait_for(lambda: bool(slack._sockets), READY_WITHIN)  # intake connected
            hook = f"{slack.url}/response/roles"
            await slack.socket_send(envelope("env-1", "a fox in snow", "trig.r1", hook))
            uploaded = "files.completeUploadExternal"
            await slack.wait_for(lambda: bool(slack.named(uploaded)), READY_WITHIN)
            for process in (intake, worker):
                process.signal(signal.SIGTERM)
            codes = await asyncio.gather(intake.wait(), worker.wait())
        assert codes == [0, 0], intake.stderr() + worker.stderr()
        assert len(slack.named("apps.connections.open")) == 1  # the intake's; a worker has none
        assert len(slack.named(uploaded)) == 1
        assert live_sim.simulator.stats.tasks_created == 1
        # Which process did what: the worker moved the task, the intake only recorded it.
        assert "submitted as" in worker.stderr() and "submitted as" not in intake.stderr()
    finally:
        await slack.close()
