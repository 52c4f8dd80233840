"""The SQLite ledger on a real file: pragmas, migrations, idempotent add, guarded saves, due()."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain import TaskState, new_ref, new_task_id
from bot.ledger import TaskQuery
from storage.sqlite.ledger import LedgerError, SqliteLedger
from storage.sqlite.schema import SCHEMA_VERSION
from tests.bot.test_domain import T0, accepted
from tests.conftest import t2v, target


def fresh(key: str, user: str = "U1", at_s: int = 0) -> object:
    at = T0 + timedelta(seconds=at_s)
    return replace(
        accepted(),
        task_id=new_task_id(),
        ref=new_ref(),
        idem_key=key,
        target=target(user),
        created_at=at,
        updated_at=at,
        next_check_at=at,
    )


async def test_pragmas_and_schema(tmp_path: Path) -> None:
    async with SqliteLedger.open(tmp_path / "l.db"):
        pass
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"tasks_due", "tasks_user_day"} <= indexes


async def test_reopen_keeps_rows_and_does_not_remigrate(tmp_path: Path) -> None:
    async with SqliteLedger.open(tmp_path / "l.db") as ledger:
        task, _ = await ledger.add(fresh("k1"))  # type: ignore[arg-type]
    async with SqliteLedger.open(tmp_path / "l.db") as ledger:
        again = await ledger.get(task.ref)
        assert again == task
        assert await ledger.integrity_check() == "ok"


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "l.db").execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match="newer than this videobot"):
        async with SqliteLedger.open(tmp_path / "l.db"):
            pass


async def test_same_idem_key_returns_the_first_task(ledger: SqliteLedger) -> None:
    first, created = await ledger.add(fresh("evt-1"))  # type: ignore[arg-type]
    again, created_again = await ledger.add(fresh("evt-1"))  # type: ignore[arg-type]
    assert created and not created_again
    assert again.task_id == first.task_id


async def test_guarded_save_lets_exactly_one_writer_win(ledger: SqliteLedger) -> None:
    task, _ = await ledger.add(fresh("k"))  # type: ignore[arg-type]
    won = await ledger.save(task, task.cancelled(T0))
    lost = await ledger.save(task, task.submitting(T0))
    assert won is not None and won.version == task.version + 1
    assert lost is None
    stored = await ledger.get(task.task_id)
    assert stored is not None and stored.state is TaskState.CANCELLED


async def test_round_trip_of_every_field(ledger: SqliteLedger) -> None:
    from tests.bot.test_commands import image

    task, _ = await ledger.add(
        replace(  # type: ignore[type-var]
            fresh("k"),
            request=replace(t2v(), images=(image(1),), resolution="1080p", previous="v1_prev"),
        )
    )
    moved = task.submitting(T0).submitted("task_x", T0, T0 + timedelta(seconds=5))
    moved = moved.polled(True, 42, T0, T0 + timedelta(seconds=9))
    saved = await ledger.save(task, moved)
    assert saved is not None
    assert await ledger.get(task.ref) == saved
    history = await ledger.history(task.task_id)
    assert [state for _, state, _ in history] == ["accepted", "running"]


async def test_due_is_oldest_first_fair_and_skips_in_flight(ledger: SqliteLedger) -> None:
    hog = [await ledger.add(fresh(f"h{i}", "HOG", i)) for i in range(20)]  # type: ignore[func-returns-value]
    solo, _ = await ledger.add(fresh("s", "SOLO", 30))  # type: ignore[arg-type]
    due = await ledger.due(T0 + timedelta(minutes=1), 4, frozenset())
    assert solo.task_id in {t.task_id for t in due}  # not starved behind 20 older rows
    skipped = frozenset({hog[0][0].task_id})
    due = await ledger.due(T0 + timedelta(minutes=1), 50, skipped)
    assert hog[0][0].task_id not in {t.task_id for t in due} and len(due) == 20
    assert await ledger.due(T0 - timedelta(seconds=1), 50, frozenset()) == []


async def test_find_filters(ledger: SqliteLedger) -> None:
    a, _ = await ledger.add(fresh("a", "U1"))  # type: ignore[arg-type]
    b, _ = await ledger.add(fresh("b", "U2"))  # type: ignore[arg-type]
    await ledger.save(b, b.cancelled(T0))
    mine = await ledger.find(TaskQuery(user_key=a.target.user_key))
    assert [t.task_id for t in mine] == [a.task_id]
    ended = await ledger.find(TaskQuery(states=frozenset({TaskState.CANCELLED})))
    assert [t.task_id for t in ended] == [b.task_id]
    assert await ledger.count_by_state() == {"accepted": 1, "cancelled": 1}


def _make_read_only(paths: list[Path]) -> list[Path]:
    """Read-only for whoever runs the tests: chattr +i for root (file modes do not stop
    root), file modes for anyone else. Returns what chattr locked, to unlock after."""
    locked: list[Path] = []
    for path in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(path)], check=True)
            locked.append(path)
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)
    return locked


async def test_a_read_only_ledger_fails_loudly_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    async with SqliteLedger.open(folder / "l.db"):
        pass
    locked = _make_read_only([folder / "l.db", folder])
    try:
        with pytest.raises(LedgerError) as caught:
            async with SqliteLedger.open(folder / "l.db"):
                pass
        assert "l.db" in str(caught.value)
    finally:
        _unlock(locked)
        folder.chmod(0o755)


def _unlock(locked: list[Path]) -> None:
    for path in locked:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_a_ledger_path_that_is_a_folder_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "l.db").mkdir()
    with pytest.raises(LedgerError, match="l.db"):
        async with SqliteLedger.open(tmp_path / "l.db"):
            pass


def test_a_full_disk_fails_loudly_at_start(tmp_path: Path) -> None:
    """The process may write files of at most 2 KB (RLIMIT_FSIZE: the disk is 'full' for it),
    so creating the ledger cannot complete: `videobot tasks` says so and exits 1 at once."""

    def tiny_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    env = {**os.environ, "VIDEOBOT_DB": str(tmp_path / "full.db")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "tasks"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=tiny_disk,
        timeout=60,
        check=False,  # noqa: PLW1509 (no threads yet)
    )
    assert result.returncode == 1
    assert "full.db" in result.stderr and "Traceback" not in result.stderr
