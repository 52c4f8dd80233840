"""Processes of different providers on one PostgreSQL ledger: each worker works only its own
provider's tasks (another's API would report a billed render unknown), every such process
starts, and `videobot doctor` names the live tasks no process of this provider will work."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.ops.database import check_database
from bot.config import Settings
from bot.domain import TaskState
from bot.engine import open_engine
from storage.sqlite.ledger import SqliteLedger
from tests.pg import pg_databases, pg_ledger, pg_url
from tests.storage.test_ledger import fresh

__all__ = ["pg_databases", "pg_url"]


def _guide(tmp_path: Path, url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        VIDEOBOT_DATA_DIR=str(tmp_path / "data"),
        VIDEO_API_URL="http://127.0.0.1:9",
        VIDEO_API_KEY=SecretStr("k"),
        database_url=SecretStr(url),
    )


async def test_a_worker_leaves_another_providers_render_alone(tmp_path: Path, pg_url: str) -> None:
    settings = _guide(tmp_path, pg_url)
    async with open_engine(settings) as engine:
        # Google's process records and submits a task while this guide worker runs.
        now = datetime.now(UTC)
        async with pg_ledger(pg_url) as google:
            task, _ = await google.add(replace(fresh("g"), provider="google"))  # type: ignore[type-var]
            rendering = await google.save(task, task.submitting(now).submitted("v1_g", now, now))
        assert rendering is not None
        assert await engine.worker.step() == 0
        kept = await engine.ledger.get(task.ref)
        assert kept is not None and kept.version == rendering.version
        assert kept.state is TaskState.SUBMITTED
    async with open_engine(settings) as engine:  # a restart is not refused on a shared ledger
        assert await engine.worker.step() == 0
    checks = {c.name: c for c in await check_database(pg_url, "guide")}
    warned = checks["providers"]
    assert warned.mark == "WARN" and "1 with google" in warned.detail
    assert "provider" in warned.fix
    assert "providers" not in {c.name for c in await check_database(pg_url, "google")}


async def test_a_single_process_names_queued_tasks_of_another_provider(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On the SQLite file a task not yet sent does not stop a switch of provider (nothing was
    paid), but this worker leaves it alone, so the start says it waits for its provider."""
    db = tmp_path / "l.db"
    async with SqliteLedger.open(db) as ledger:
        task, _ = await ledger.add(replace(fresh("q"), provider="google"))  # type: ignore[type-var]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        VIDEOBOT_DB=str(db),
        VIDEOBOT_DATA_DIR=str(tmp_path / "data"),
        VIDEO_API_URL="http://127.0.0.1:9",
        VIDEO_API_KEY=SecretStr("k"),
    )
    async with open_engine(settings) as engine:
        assert await engine.worker.step() == 0
        kept = await engine.ledger.get(task.ref)
        assert kept is not None and kept.state is TaskState.ACCEPTED
    assert f"1 task(s) ({task.ref}) were made for another provider" in caplog.text
