"""The installation stores in the ledger's own SQLite file: their tables beside the ledger's,
both writers at once without a `database is locked`, and the ledger's WAL left in place."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from slack_sdk.oauth.installation_store import Installation

from adapters.slack.install import InstallStores, database_url
from bot.domain import new_ref, new_task_id
from bot.ledger import TaskQuery
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import accepted
from tests.conftest import target
from tests.fakes.slack_oauth import CLIENT_ID


def _task(i: int) -> Task:
    return replace(
        accepted(),
        task_id=new_task_id(),
        ref=new_ref(),
        idem_key=f"beside-the-stores-{i}",
        target=target(f"U{i}"),
    )


def _installation(i: int) -> Installation:
    return Installation(
        app_id="A0APP",
        team_id=f"T{i:04d}",
        user_id="U0INSTALLER",
        bot_token=f"xoxb-{i}-fake",
        bot_id=f"B{i:04d}",
        bot_user_id=f"U0BOT{i:04d}",
        installed_at=time.time(),
    )


def test_urls_name_the_async_drivers(tmp_path: Path) -> None:
    assert database_url(tmp_path / "l.db") == f"sqlite+aiosqlite:///{tmp_path / 'l.db'}"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert database_url("sqlite:////data/v.db") == "sqlite+aiosqlite:////data/v.db"
    assert database_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"


async def test_installs_and_tasks_write_the_same_file_at_once(
    tmp_path: Path, ledger: SqliteLedger
) -> None:
    path = tmp_path / "ledger.db"
    stores = InstallStores.create(database_url(path), CLIENT_ID)
    try:
        await stores.prepare()
        await stores.prepare()  # a second start finds its tables there
        writes = [ledger.add(_task(i)) for i in range(40)]
        writes += [stores.installations.async_save(_installation(i)) for i in range(40)]
        await asyncio.gather(*writes)
        found = await stores.installations.async_find_bot(enterprise_id=None, team_id="T0039")
        assert found is not None and found.bot_token == "xoxb-39-fake"
    finally:
        await stores.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"slack_installations", "slack_bots", "slack_oauth_states"} <= tables
        assert conn.execute("SELECT count(*) FROM slack_bots").fetchone()[0] == 40
    assert len(await ledger.find(TaskQuery(limit=100))) == 40
