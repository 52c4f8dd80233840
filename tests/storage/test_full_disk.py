"""A ledger write that fails mid-run (the disk is full): a command that cannot be recorded is
answered plainly, the worker's saves back off and retry, and everything resumes once space
returns, with no traceback. In process, SQLITE_FULL comes from SQLite itself (`PRAGMA
max_page_count` on the writer's connection once the free pages are used up, so a write needing a
page fails); the whole engine meets a real full disk in a child process (RLIMIT_FSIZE)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot import messages
from bot.domain import Profile, TaskState
from bot.errors import VideobotError
from bot.ledger import TaskQuery
from bot.policy import WorkerPolicy
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.conftest import t2v, target
from tests.fakes.clock import FakeClock
from tests.paths import ROOT
from tests.storage.test_ledger import fresh

# Longer than a page: the row needs overflow pages, which only fresh pages can hold.
BIG = "a lighthouse in a storm, waves breaking over the rocks " * 110


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    """SQLite only: the full disk is the file's (the contract suite covers both backends)."""
    async with SqliteLedger.open(tmp_path / "ledger.db") as opened:
        yield opened


async def fill(ledger: SqliteLedger) -> None:
    """No free page left and no new one allowed: the disk is full for this ledger."""
    writer = ledger._writer  # the one connection that writes, where the limit must be set
    await writer.script("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    pages = (await ledger._rows("PRAGMA page_count"))[0][0]
    await writer.script(f"PRAGMA max_page_count={pages}")
    for size in (3000, 500, 50):
        while True:
            try:
                await writer.script(f"INSERT INTO filler VALUES (zeroblob({size}))")
            except sqlite3.OperationalError as err:
                assert "full" in str(err)
                break


async def free(ledger: SqliteLedger) -> None:
    await ledger._writer.script("PRAGMA max_page_count=1073741823")


async def retries_seen(
    caplog: pytest.LogCaptureFixture, count: int, pending: asyncio.Task[object]
) -> None:
    """Wait (bounded) until the ledger has reported `count` failed attempts of a pending write."""
    for _ in range(1000):
        if pending.done():
            pending.result()  # raises what the write raised
            raise AssertionError("the write finished while the disk was still full")
        failures = [r for r in caplog.records if "could not commit" in r.getMessage()]
        if len(failures) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} failed attempts were reported")


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert all(r.levelno < logging.ERROR for r in caplog.records), caplog.text


async def test_a_command_that_cannot_be_recorded_is_answered_plainly(
    ledger: SqliteLedger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    woken: list[int] = []
    service = VideoService(
        ledger,
        WorkerPolicy(),
        clock.now,
        lambda: woken.append(1),
        profile=Profile(prompt_max_chars=10_000),
    )
    await fill(ledger)
    with pytest.raises(VideobotError) as refused:
        await service.accept(t2v(BIG), target(), "slack:full-1")
    text = str(refused.value)
    assert "could not be saved" in text and "try again" in text and "charged" in text
    assert "database" not in text and "sqlite" not in text.lower()  # no internals
    assert await ledger.find(TaskQuery()) == [] and woken == []
    await free(ledger)
    task, created = await service.accept(t2v(BIG), target(), "slack:full-1")
    assert created and task.request.prompt == " ".join(BIG.split())
    no_traceback(caplog)


async def test_a_save_on_a_full_disk_backs_off_and_lands_when_space_returns(
    ledger: SqliteLedger, caplog: pytest.LogCaptureFixture
) -> None:
    task, _ = await ledger.add(fresh("full-disk-save"))  # type: ignore[arg-type]
    await fill(ledger)
    later = T0 + timedelta(seconds=5)
    noted = replace(task.rescheduled(later, later), note=BIG)
    saving = asyncio.create_task(ledger.save(task, noted))
    await retries_seen(caplog, 2, saving)
    other = await ledger.get(task.ref)  # reads keep working meanwhile
    assert other is not None and other.version == task.version and other.note is None
    await free(ledger)
    saved = await asyncio.wait_for(saving, timeout=30)
    assert saved is not None and saved.version == task.version + 1
    stored = await ledger.get(task.ref)
    assert stored is not None and stored.note == BIG and stored.state is TaskState.ACCEPTED
    assert await ledger.integrity_check() == "ok"
    no_traceback(caplog)


def test_the_engine_rides_out_a_full_disk_without_a_traceback(tmp_path: Path) -> None:
    """The real engine in a child process whose files may not grow (RLIMIT_FSIZE) for a while:
    the command sent meanwhile is refused in plain words, the worker's transition waits and
    retries, and after space returns the video is delivered once. See full_disk_child.py."""
    child = subprocess.run(  # noqa: S603 - our own interpreter running our own module
        [sys.executable, "-m", "tests.storage.full_disk_child", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in child.stderr, child.stderr
    assert child.returncode == 0, child.stderr
    summary = json.loads(child.stdout)
    assert summary["refused"] == messages.NOT_RECORDED
    assert summary["held_while_full"] is True and summary["failures"] >= 4
    assert "could not commit" in child.stderr and "takes writes again" in child.stderr
    assert (summary["state"], summary["uploads"], summary["second_recorded"]) == ("delivered", 1, 0)
    assert summary["tasks"] == {"delivered": 1} and summary["integrity"] == "ok"
