"""Slack installable by any workspace, against the fake Slack: the OAuth flow stores each
installation beside the ledger's tasks, every call for a task carries its own workspace's
token, replicas share installs through the database, an uninstall ends that workspace's tasks,
and Socket Mode is refused for a distributed app."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapters.media.intake import MediaIntake
from adapters.simulator.server import RunningSimulator
from adapters.slack.app import SOCKET_MODE_DISTRIBUTED, SlackAdapter
from bot.domain import TaskState
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import SlackHarness, slack_harness, slack_settings
from tests.fakes.slack_install import distributed, install
from tests.fakes.slack_server import BOT_TOKEN, FakeSlack

ONE, TWO = "T0ONE", "T0TWO"
C_ONE, C_TWO = "C0ONE", "C0TWO"
# What the worker sends for a task: every one must carry its workspace's token.
_TASK_CALLS = ("chat.postMessage", "chat.update", "files.getUploadURLExternal",
               "files.completeUploadExternal", "files.info", "conversations.history",
               "conversations.replies")  # fmt: skip


@contextlib.asynccontextmanager
async def _harness(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    fake: FakeSlack | None = None,
) -> AsyncIterator[SlackHarness]:
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=make_provider(http, sim.url),
        policy=TEST_POLICY,
        settings_overrides=distributed(tmp_path),
        fake=fake,
    ) as harness:
        harness.fake.channel_teams.update({C_ONE: ONE, C_TWO: TWO})
        yield harness


@pytest.fixture
async def app(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    async with _harness(tmp_path, sim, clock, ledger, http) as harness:
        yield harness


def _bots(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT team_id, bot_token FROM slack_bots ORDER BY team_id")
        return [(str(team), str(token)) for team, token in rows]


async def test_two_workspaces_install_and_each_task_speaks_with_its_own_token(
    app: SlackHarness, tmp_path: Path
) -> None:
    for team in (ONE, TWO):
        done = await install(app, team)
        assert done.status_code == 200, done.text
    bots = dict(_bots(tmp_path / "ledger.db"))  # the ledger's own file holds them
    assert set(bots) == {ONE, TWO} and bots[ONE] != bots[TWO]
    assert BOT_TOKEN not in bots.values()
    tasks = await app.tasks()
    assert tasks == []  # the ledger beside them is untouched and readable

    await app.command("a fox in the snow", team=ONE, channel=C_ONE)
    await app.command("a heron at dawn", team=TWO, channel=C_TWO)
    await app.wait_responses(2)
    await app.run_until_idle()
    tasks = await app.tasks()
    assert sorted(t.target.workspace_id for t in tasks) == [ONE, TWO]
    assert all(t.state is TaskState.DELIVERED for t in tasks)

    sent = [c for c in app.fake.calls if c.method in _TASK_CALLS]
    channel = {ONE: C_ONE, TWO: C_TWO}
    for team in (ONE, TWO):
        mine = [c for c in sent if (c.params.get("channel") or c.params.get("channel_id"))
                == channel[team]]  # fmt: skip
        assert {c.method for c in mine} >= {"chat.postMessage", "files.completeUploadExternal"}
        assert {c.auth for c in mine} == {f"Bearer {bots[team]}"}
    # Bolt checked each incoming command against its workspace's installation.
    checked = {c.team for c in app.fake.named("auth.test")}
    assert checked == {ONE, TWO}


async def test_an_enterprise_grid_workspace_is_found_by_org_and_workspace(
    app: SlackHarness,
) -> None:
    await install(app, ONE, enterprise="E0ORG")
    await app.command("a fox", team=ONE, channel=C_ONE, enterprise="E0ORG")
    await app.wait_responses(1)
    await app.run_until_idle()
    (task,) = await app.tasks()
    assert task.target.enterprise_id == "E0ORG"
    assert task.state is TaskState.DELIVERED
    (token,) = app.fake.token_of(ONE)
    posted = [c for c in app.fake.calls if c.method.startswith(("chat.", "files."))]
    assert posted and {c.auth for c in posted} == {f"Bearer {token}"}


async def test_an_install_started_on_one_replica_completes_on_another(
    app: SlackHarness,
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> None:
    async with _harness(tmp_path, sim, clock, ledger, http, fake=app.fake) as other:
        done = await install(app, ONE, finish=other)
        assert done.status_code == 200, done.text
        # A command through either replica is authorized from the shared store.
        await other.command("a fox", "trig.other", team=ONE, channel=C_ONE)
        await app.command("a crane", "trig.first", team=ONE, channel=C_ONE)
        await app.wait_responses(2)
    assert len(await app.tasks()) == 2
    assert len(app.fake.named("oauth.v2.access")) == 1


async def test_a_forged_or_replayed_state_installs_nothing(
    app: SlackHarness, tmp_path: Path
) -> None:
    page = await app.client.get(f"http://127.0.0.1:{app.adapter.port}/slack/oauth_redirect",
                                params={"code": "code-1", "state": "forged"},
                                headers={"Cookie": "slack-app-oauth-state=forged"})  # fmt: skip
    assert page.status_code == 401
    assert _bots(tmp_path / "ledger.db") == []
    assert app.fake.named("oauth.v2.access") == []


async def test_an_uninstall_ends_that_workspaces_tasks_and_sends_nothing_more(
    app: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    for team in (ONE, TWO):
        await install(app, team)
    await app.command("a fox in the snow", team=ONE, channel=C_ONE)
    await app.command("a heron at dawn", team=TWO, channel=C_TWO)
    await app.wait_responses(2)
    await app.worker.step()  # both submitted, status messages posted
    first = {t.target.workspace_id: t for t in await app.settle()}
    assert first[ONE].state.is_live and first[ONE].status_message_id

    app.fake.revoke(ONE)  # Slack's side: the tokens die with the uninstall
    seen = len(app.fake.calls)
    with caplog.at_level(logging.WARNING, logger="videobot.slack"):
        event = {"type": "app_uninstalled", "event_ts": "1700000100.000100"}
        answer = await app.event(event, "Ev0UNINSTALL", team=ONE)
        assert answer.status_code == 200
        await app.settle()
    (line,) = [r.getMessage() for r in caplog.records if "uninstalled" in r.getMessage()]
    assert f"workspace {ONE} uninstalled videobot" in line
    assert f"1 live task(s) ended ({first[ONE].ref})" in line

    await app.run_until_idle()
    final = {t.target.workspace_id: t for t in await app.tasks()}
    assert final[ONE].state is TaskState.CANCELLED
    assert final[TWO].state is TaskState.DELIVERED
    later = app.fake.calls[seen:]
    assert [c for c in later if c.params.get("channel") == C_ONE] == []
    assert all(c.auth is None or c.team is not None for c in later)  # no dead token tried
    bots = app.adapter.distribution.tokens if app.adapter.distribution else None
    assert bots is not None and await bots.bot_token(ONE, None) is None


async def test_a_revoked_bot_token_counts_as_an_uninstall(
    app: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await install(app, ONE)
    await app.command("a fox", team=ONE, channel=C_ONE)
    await app.wait_responses(1)
    with caplog.at_level(logging.WARNING, logger="videobot.slack"):
        tokens = {"bot": ["U0BOTT0ONE"]}
        await app.event({"type": "tokens_revoked", "tokens": tokens}, "Ev0REVOKE", team=ONE)
        await app.settle()
    assert any("revoked videobot's bot token" in r.getMessage() for r in caplog.records)
    (task,) = await app.tasks()
    assert task.state is TaskState.CANCELLED


async def test_with_one_bot_token_an_uninstall_also_ends_tasks_and_calls(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.command("a fox")
    await slack.wait_responses(1)
    await slack.worker.step()
    seen = len(slack.fake.calls)
    with caplog.at_level(logging.WARNING, logger="videobot.slack"):
        await slack.event({"type": "app_uninstalled"}, "Ev0GONE")
        await slack.settle()
    assert any("workspace T0TEAM uninstalled videobot" in r.getMessage() for r in caplog.records)
    await slack.run_until_idle()
    (task,) = await slack.tasks()
    assert task.state is TaskState.CANCELLED
    assert [c.method for c in slack.fake.calls[seen:]] == []


def test_socket_mode_is_refused_for_a_distributed_app(
    tmp_path: Path, ledger: SqliteLedger, clock: FakeClock
) -> None:
    fake = FakeSlack()
    fake.url = "http://127.0.0.1:9"
    settings = slack_settings(fake, tmp_path, socket_mode=True, **distributed(tmp_path))
    service = VideoService(ledger, TEST_POLICY, clock.now, lambda: None, None, settings.profile())
    with pytest.raises(SystemExit) as refused:
        SlackAdapter(settings, service, MediaIntake(tmp_path, settings.profile()))
    assert str(refused.value) == SOCKET_MODE_DISTRIBUTED
    assert "Socket Mode" in SOCKET_MODE_DISTRIBUTED and "SLACK_APP_TOKEN" in SOCKET_MODE_DISTRIBUTED


def test_client_id_and_secret_go_together(tmp_path: Path) -> None:
    from pydantic import ValidationError

    fake = FakeSlack()
    with pytest.raises(ValidationError, match="SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"):
        slack_settings(fake, tmp_path, slack_client_id="1.2", slack_client_secret=None)
    credentials = {"slack_client_id": "1.2", "slack_client_secret": SecretStr("s")}
    settings = slack_settings(fake, tmp_path, slack_scopes="commands, chat:write", **credentials)
    assert settings.slack_oauth and settings.slack_scopes == ("commands", "chat:write")
    assert "s" in settings.secret_values()  # the log filter redacts the client secret
