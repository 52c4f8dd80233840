"""Token rotation against the fake Slack: a rotating bot token is refreshed before it expires,
from the worker's calls as well as from Bolt's, and a refresh token (which Slack takes once) is
spent once however many refreshers race: in one process (SQLite) behind the asyncio lock, and
across processes (two engines over one real PostgreSQL) behind the advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from adapters.simulator.server import RunningSimulator
from adapters.slack.errors import WorkspaceGone
from adapters.slack.install import InstallStores, database_url
from adapters.slack.tokens import PostgresRefreshLock, RotatingInstallationStore, refresh_lock
from bot.domain import ReplyTarget, TaskState
from bot.messages import StatusView
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import SlackHarness, slack_harness
from tests.fakes.slack_install import distributed, install
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET, Workspace
from tests.fakes.slack_server import FakeSlack

ONE, CHANNEL = "T0ONE", "C0ONE"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _view() -> StatusView:
    values: dict[str, object] = {
        "ref": "REFUSED", "state": "running", "prompt": "a fox", "headline": "Rendering",
        "summary": "a fox", "detail": "", "progress": None, "buttons": (), "final": False,
    }  # fmt: skip
    return StatusView(**{f.name: values[f.name] for f in fields(StatusView)})  # type: ignore[arg-type]


@pytest.fixture
async def app(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=make_provider(http, sim.url),
        policy=TEST_POLICY,
        settings_overrides=distributed(tmp_path),
    ) as harness:
        harness.fake.rotating = True
        harness.fake.install_expires_in = 60  # inside the refresh margin from the start
        yield harness


async def test_racing_refreshers_in_one_process_spend_the_refresh_token_once(
    app: SlackHarness,
) -> None:
    await install(app, ONE)
    (installed,) = app.fake.token_of(ONE)
    (refresh,) = app.fake.refresh_tokens
    assert app.adapter.distribution is not None
    tokens = app.adapter.distribution.tokens
    # The worker's path (bot_token) and Bolt's (a command, authorized from the store) at once.
    got = await asyncio.gather(
        *(tokens.bot_token(ONE, None) for _ in range(8)),
        app.command("a fox", team=ONE, channel=CHANNEL),
    )
    assert app.fake.refreshes == [refresh]  # presented once, so spent once
    (fresh,) = set(got[:8])
    assert fresh != installed and isinstance(fresh, str) and fresh.startswith("xoxe.xoxb-")
    await app.wait_responses(1)
    await app.run_until_idle()
    (task,) = await app.tasks()
    assert task.state is TaskState.DELIVERED
    posted = [c for c in app.fake.calls if c.method.startswith(("chat.", "files."))]
    assert posted and {c.auth for c in posted} == {f"Bearer {fresh}"}
    assert app.fake.refreshes == [refresh]  # the new token lives 12 hours: no second refresh


async def test_a_refresh_slack_refuses_leaves_the_task_without_a_token_not_stuck(
    app: SlackHarness,
) -> None:
    await install(app, ONE)
    app.fake.refresh_tokens.clear()  # Slack no longer takes it (say, the app was reinstalled)
    seen = len(app.fake.calls)
    target = ReplyTarget("slack", ONE, CHANNEL, "U0ALICE")
    with pytest.raises(WorkspaceGone, match="invalid_refresh_token"):
        await app.adapter.chat.post_status(target, _view(), "vbREFUSEDs")
    assert [c.method for c in app.fake.calls[seen:]] == ["oauth.v2.access"]


# -- PostgreSQL: two processes' worth of engines and locks over one database ---------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"videobot_slack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    server.rotating = True
    yield server
    await server.close()


@contextlib.asynccontextmanager
async def _process(url: str, fake: FakeSlack) -> AsyncIterator[RotatingInstallationStore]:
    """What one intake or worker process holds: its own engine, lock and rotator."""
    stores = InstallStores.create(database_url(url), CLIENT_ID)
    await stores.prepare()
    lock = refresh_lock(stores.engine)
    assert isinstance(lock, PostgresRefreshLock)
    client = AsyncWebClient(base_url=fake.api_url)
    rotator = AsyncTokenRotator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=client)
    try:
        yield RotatingInstallationStore(stores.installations, rotator, lock)
    finally:
        await stores.close()


async def test_two_processes_on_postgresql_spend_each_refresh_token_once(
    pg_url: str, fake: FakeSlack
) -> None:
    assert database_url(pg_url).startswith("postgresql+psycopg://")
    space = Workspace(ONE, "U0BOTT0ONE")
    fake.tokens["xoxe.xoxb-T0ONE-0-fake"] = space
    fake.refresh_tokens["xoxe-1-T0ONE-0-refresh"] = space
    async with _process(pg_url, fake) as first, _process(pg_url, fake) as second:
        await first.async_save(
            Installation(
                app_id="A0APP",
                team_id=ONE,
                user_id="U0INSTALLER",
                bot_token="xoxe.xoxb-T0ONE-0-fake",
                bot_id="BU0BOTT0ONE",
                bot_user_id=space.bot_user_id,
                bot_refresh_token="xoxe-1-T0ONE-0-refresh",
                bot_token_expires_at=int(time.time()) + 60,
                installed_at=time.time(),
            )
        )
        got = await asyncio.gather(
            *(p.bot_token(ONE, None) for _ in range(6) for p in (first, second))
        )
        assert fake.refreshes == ["xoxe-1-T0ONE-0-refresh"]
        (fresh,) = set(got)
        assert fresh is not None and fresh != "xoxe.xoxb-T0ONE-0-fake"
        assert fake.tokens[fresh] == space
        # Both processes read the refreshed token from the database from now on.
        assert await second.bot_token(ONE, None) == fresh
        assert await first.bot_token("T0NONE", None) is None


async def test_the_worker_refreshes_a_token_with_no_request_to_trigger_bolt(
    app: SlackHarness, tmp_path: Path
) -> None:
    await install(app, ONE)
    await app.command("a fox", team=ONE, channel=CHANNEL)  # Bolt refreshes the first token
    await app.wait_responses(1)
    spent = list(app.fake.refreshes)
    (refresh,) = app.fake.refresh_tokens
    # Hours pass with no request from Slack: the stored token is now near its end.
    soon = datetime.fromtimestamp(time.time() + 60, tz=UTC).replace(tzinfo=None)
    with contextlib.closing(sqlite3.connect(tmp_path / "ledger.db")) as conn, conn:
        conn.execute("UPDATE slack_bots SET bot_token_expires_at = ?", (soon.isoformat(" "),))
    requests_before = len(app.fake.named("auth.test"))
    await app.run_until_idle()
    assert app.fake.refreshes == [*spent, refresh]  # once, from the worker's first call
    assert len(app.fake.named("auth.test")) == requests_before  # no request came in
    (task,) = await app.tasks()
    assert task.state is TaskState.DELIVERED
    latest = app.fake.token_of(ONE)[-1]  # issued for the worker's refresh
    posted = [c for c in app.fake.calls if c.method.startswith(("chat.", "files."))]
    assert {c.auth for c in posted} == {f"Bearer {latest}"}
