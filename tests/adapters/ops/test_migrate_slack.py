"""`videobot migrate-ledger` moves Slack's OAuth installations with the tasks: slack-sdk's
stores written on the SQLite file are read back, tokens intact, from PostgreSQL; new installs
there get fresh ids, and a second run copies nothing twice."""

from __future__ import annotations

import io
import time
from pathlib import Path

import psycopg
from pydantic import SecretStr
from slack_sdk.oauth.installation_store import Installation

from adapters.ops.migrate import run_migrate_ledger
from adapters.slack.install import InstallStores, database_url
from bot.config import Settings
from storage.sqlite.ledger import SqliteLedger
from tests.fakes.slack_oauth import CLIENT_ID
from tests.pg import pg_databases, pg_url

__all__ = ["pg_databases", "pg_url"]


def _installation(team: str, token: str) -> Installation:
    return Installation(
        app_id="A0APP",
        team_id=team,
        user_id="U0INSTALLER",
        bot_token=token,
        bot_id=f"B{team}",
        bot_user_id=f"U0BOT{team}",
        installed_at=time.time(),
    )


async def test_workspaces_tokens_move_to_postgres(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "videobot.db"
    async with SqliteLedger.open(db):
        pass
    old = InstallStores.create(database_url(db), CLIENT_ID)
    try:
        await old.prepare()
        await old.installations.async_save(_installation("T0001", "xoxb-one"))
        await old.installations.async_save(_installation("T0002", "xoxb-two"))
        state = await old.states.async_issue()
    finally:
        await old.close()
    settings = Settings(db_path=db, database_url=SecretStr(pg_url))
    out = io.StringIO()
    assert await run_migrate_ledger(settings, None, out) == 0
    assert "copied 5 Slack installation record(s)" in out.getvalue()  # 2 + 2 bots + 1 state

    moved = InstallStores.create(database_url(pg_url), CLIENT_ID)
    try:
        bot = await moved.installations.async_find_bot(enterprise_id=None, team_id="T0002")
        assert bot is not None and bot.bot_token == "xoxb-two"
        found = await moved.installations.async_find_installation(
            enterprise_id=None, team_id="T0001"
        )
        assert found is not None and found.bot_token == "xoxb-one"
        assert await moved.states.async_consume(state)  # an install under way completes
        # The sequences were left to PostgreSQL: a workspace installing now is stored.
        await moved.installations.async_save(_installation("T0003", "xoxb-three"))
        bot = await moved.installations.async_find_bot(enterprise_id=None, team_id="T0003")
        assert bot is not None and bot.bot_token == "xoxb-three"
    finally:
        await moved.close()

    again = io.StringIO()
    assert await run_migrate_ledger(settings, None, again) == 0
    assert "Slack" not in again.getvalue()
    with psycopg.connect(pg_url) as conn:
        bots = conn.execute("SELECT team_id FROM slack_bots ORDER BY id").fetchall()
    assert [b[0] for b in bots] == ["T0001", "T0002", "T0003"]
