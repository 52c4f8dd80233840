"""Media retention on real files and a real SQLite ledger: kept while a task may need it,
deleted after, unreferenced files gone once past the grace, and Retry refused plainly after."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.media.retention import GRACE, MediaJanitor
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ActionRefused
from bot.policy import WorkerPolicy
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.conftest import target
from tests.storage.test_ledger import fresh

KEEP = timedelta(hours=24)
NOW = T0 + timedelta(days=3)


def stored(root: Path, name: str, *, age: timedelta = timedelta(hours=1)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_bytes(b"x" * 100)
    past = time.time() - age.total_seconds()
    os.utime(path, (past, past))
    return path


def media(path: Path, kind: str = "image") -> MediaRef:
    mime = "image/png" if kind == "image" else "video/mp4"
    return MediaRef(kind, str(path), path.stem.ljust(64, "0"), mime, 100, path.name)  # type: ignore[arg-type]


async def record(
    ledger: SqliteLedger, key: str, request: VideoRequest, *, ended_at: object = None
) -> None:
    task, _ = await ledger.add(replace(fresh(key), request=request))  # type: ignore[type-var]
    if ended_at is not None:
        await ledger.save(task, task.cancelled(ended_at))  # type: ignore[arg-type]


async def test_a_sweep_keeps_what_tasks_need_and_deletes_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "media"
    live_image = stored(root, "live.png")
    recent_clip = stored(root, "recent.mp4")
    old_image = stored(root, "old.png", age=timedelta(days=3))
    orphan = stored(root, "orphan.png")  # a refused request: no task refers to it
    young_orphan = stored(root, "young.png", age=timedelta(seconds=5))  # intake in progress
    async with SqliteLedger.open(tmp_path / "l.db") as ledger:
        await record(ledger, "live", VideoRequest("p", Mode.I2V, "16:9", 6, (media(live_image),)))
        edit = VideoRequest("p", Mode.EDIT, "16:9", 6, video=media(recent_clip, "video"))
        await record(ledger, "recent", edit, ended_at=NOW - timedelta(hours=2))
        old = VideoRequest("p", Mode.I2V, "16:9", 6, (media(old_image),))
        await record(ledger, "old", old, ended_at=NOW - timedelta(hours=30))
        janitor = MediaJanitor(ledger, root, KEEP, lambda: NOW)
        swept = await janitor.sweep()
    assert sorted(p.name for p in root.iterdir()) == ["live.png", "recent.mp4", "young.png"]
    assert (swept.deleted, swept.kept, swept.freed_bytes) == (2, 3, 200)
    assert not old_image.exists() and not orphan.exists() and young_orphan.exists()


async def test_a_file_sent_again_during_a_sweep_is_spared(tmp_path: Path) -> None:
    root = tmp_path / "media"
    again = stored(root, "again.png", age=timedelta(days=2))

    class Resend:  # the user sends the same image while the sweep reads the ledger
        async def media_in_use(self, ended_since: object) -> frozenset[str]:
            again.touch()  # what intake does for a file it already holds
            return frozenset()

    janitor = MediaJanitor(Resend(), root, KEEP, lambda: NOW)  # type: ignore[arg-type]
    assert (await janitor.sweep()).deleted == 0
    assert again.exists()


async def test_retry_after_the_media_is_gone_says_so(tmp_path: Path) -> None:
    root = tmp_path / "media"
    image = stored(root, "cat.png", age=GRACE * 10)
    async with SqliteLedger.open(tmp_path / "l.db") as ledger:
        service = VideoService(ledger, WorkerPolicy(), lambda: NOW, lambda: None)
        request = VideoRequest("the cat waves", Mode.I2V, "16:9", 6, (media(image),))
        task, _ = await service.accept(request, target("U1"), "first")
        await ledger.save(task, task.cancelled(NOW))
        await MediaJanitor(ledger, root, KEEP, lambda: NOW + KEEP * 2).sweep()
        assert not image.exists()
        with pytest.raises(ActionRefused, match="no longer kept"):
            await service.retry(task.ref, target("U1"), "again")


async def test_a_missing_media_folder_is_an_empty_sweep(tmp_path: Path) -> None:
    async with SqliteLedger.open(tmp_path / "l.db") as ledger:
        swept = await MediaJanitor(ledger, tmp_path / "none", KEEP, lambda: NOW).sweep()
    assert swept.deleted == swept.kept == 0
