"""Slack distributed over PostgreSQL with real processes: two `videobot run --role intake`
replicas in HTTP mode (no stickiness: any request to either) and one `--role worker`, on one
ledger whose database also holds the installations and OAuth states. An install started on
one replica completes on the other; commands from two installed workspaces, each sent to a
different replica, are delivered by the worker with each workspace's own token."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from adapters.slack.app import EVENTS_PATH
from bot.domain import TaskState
from bot.ledger import TaskQuery
from tests.fakes.slack_harness import SECRET, USER, sign
from tests.fakes.slack_install import install_at
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.slack_server import FakeSlack
from tests.pg import pg_databases, pg_ledger, pg_url
from tests.process_harness import READY_WITHIN, BotProcess, bot_process, clean_env
from tests.test_process_platforms import free_port

__all__ = ["pg_databases", "pg_url"]
KEY = "sk-replicas-test-key-0005"
ONE, TWO = "T0ONE", "T0TWO"
CHANNELS = {ONE: "C0ONE", TWO: "C0TWO"}
_TASK_CALLS = ("chat.postMessage", "chat.update", "files.getUploadURLExternal",
               "files.completeUploadExternal")  # fmt: skip


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimConfig(render_seconds=1.0, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


def role_env(tmp_path: Path, fake: FakeSlack, sim: RunningSimulator, url: str, port: int = 0
             ) -> dict[str, str]:  # fmt: skip
    return clean_env(
        tmp_path,
        {
            "VIDEO_API_URL": sim.url,
            "VIDEO_API_KEY": KEY,
            "VIDEOBOT_DATABASE_URL": url,
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "1",
            "VIDEOBOT_FIRST_POLL": "1",
            "VIDEOBOT_LOG_LEVEL": "INFO",
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "SLACK_HOST": "127.0.0.1",
            "SLACK_PORT": str(port),
        },
    )


async def answering(client: httpx.AsyncClient, root: str) -> None:
    """Until the replica's install page answers, bounded."""
    async with asyncio.timeout(READY_WITHIN):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"{root}/slack/install")).status_code == 200:
                    return
            await asyncio.sleep(0.2)  # polling a port that is still opening


async def command(client: httpx.AsyncClient, root: str, fake: FakeSlack, team: str) -> None:
    channel = CHANNELS[team]
    body = urlencode({
        "token": "legacy", "team_id": team, "team_domain": "test", "channel_id": channel,
        "channel_name": "general", "user_id": USER, "user_name": "alice", "command": "/video",
        "text": f"a lighthouse in {team}", "api_app_id": "A0APP",
        "response_url": f"{fake.url}/response/{team}", "trigger_id": f"trig.{team}",
    })  # fmt: skip
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    answer = await client.post(f"{root}{EVENTS_PATH}", content=body.encode(), headers=headers)
    assert answer.status_code == 200, answer.text


async def test_two_replicas_share_installs_and_one_worker_speaks_with_each_token(
    tmp_path: Path, live_sim: RunningSimulator, pg_url: str
) -> None:
    fake = await FakeSlack().start()
    fake.channel_teams.update({channel: team for team, channel in CHANNELS.items()})
    ports = [free_port()]
    while len(ports) < 2:  # two replicas, two ports: a port given twice would hide one of them
        if (port := free_port()) not in ports:
            ports.append(port)
    roots = [f"http://127.0.0.1:{port}" for port in ports]
    processes: list[BotProcess] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            for port in ports:
                env = role_env(tmp_path, fake, live_sim, pg_url, port)
                args = ["run", "--role", "intake"]
                processes.append(await stack.enter_async_context(bot_process(args, tmp_path, env)))
            env = role_env(tmp_path, fake, live_sim, pg_url)
            args = ["run", "--role", "worker"]
            processes.append(await stack.enter_async_context(bot_process(args, tmp_path, env)))
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
                try:
                    await asyncio.gather(*(answering(client, root) for root in roots))
                except TimeoutError:
                    told = "\n".join(process.stderr() for process in processes)
                    raise AssertionError(f"a replica never answered:\n{told}") from None
                # Each install starts on one replica and comes back to the other.
                for team, (start, finish) in ((ONE, roots), (TWO, roots[::-1])):
                    done = await install_at(client, fake, start, finish, team)
                    assert done.status_code == 200, done.text
                await command(client, roots[1], fake, ONE)
                await command(client, roots[0], fake, TWO)
            uploaded = "files.completeUploadExternal"
            await fake.wait_for(lambda: len(fake.named(uploaded)) >= 2, READY_WITHIN)
            for process in processes:
                process.signal(signal.SIGTERM)
            codes = await asyncio.gather(*(process.wait() for process in processes))
        assert codes == [0, 0, 0], "\n".join(process.stderr() for process in processes)
    finally:
        await fake.close()

    async with pg_ledger(pg_url) as ledger:
        tasks = await ledger.find(TaskQuery(limit=10))
        async with ledger.pool.connection() as conn:
            cur = await conn.execute("SELECT team_id, bot_token FROM slack_bots")
            bots = {str(team): str(token) for team, token in await cur.fetchall()}
    assert sorted(t.target.workspace_id for t in tasks) == [ONE, TWO]
    assert all(t.state is TaskState.DELIVERED for t in tasks)
    assert set(bots) == {ONE, TWO} and bots[ONE] != bots[TWO]
    assert len(fake.named("oauth.v2.access")) == 2  # one code each, spent once
    sent = [c for c in fake.calls if c.method in _TASK_CALLS]
    for team, channel in CHANNELS.items():
        mine = [c for c in sent if (c.params.get("channel") or c.params.get("channel_id"))
                == channel]  # fmt: skip
        assert {c.method for c in mine} >= {"chat.postMessage", "files.completeUploadExternal"}
        assert {c.auth for c in mine} == {f"Bearer {bots[team]}"}
    # The worker delivered; the replicas only answered and recorded.
    intake_logs, worker_log = [p.stderr() for p in processes[:2]], processes[2].stderr()
    assert all(f"task {t.ref} submitted as" in worker_log for t in tasks)
    assert all("accepted" in log for log in intake_logs)
    assert not any("submitted as" in log for log in intake_logs)
