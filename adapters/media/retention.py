"""Media retention: what users sent (Slack files, Discord attachments, local files) is kept
while a task may still need it (live, or ended less than `keep` ago: Retry sends it again),
then deleted. A file no task refers to (a refused request, an intake a crash cut short) goes
once it is `grace` old, so nothing is kept for requests that were never made."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.ledger import Ledger

log = logging.getLogger(__name__)

GRACE = timedelta(minutes=10)  # longer than any intake takes to record its task
SWEEP_EVERY = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Swept:
    kept: int
    deleted: int
    freed_bytes: int


class MediaJanitor:
    def __init__(
        self,
        ledger: Ledger,
        root: Path,
        keep: timedelta,
        clock: Callable[[], datetime],
        *,
        grace: timedelta = GRACE,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._root = root
        self._keep = keep
        self._clock = clock
        self._grace = grace
        self._wall = wall

    async def sweep(self) -> Swept:
        """Delete every stored medium no task needs any more; returns what it did."""
        # The list of files is taken before the ledger is read: a file stored after the read
        # (its task recorded after it) is not in the list, so it cannot be taken for unused.
        files = await asyncio.to_thread(self._files)
        in_use = await self._ledger.media_in_use(self._clock() - self._keep)
        young = self._wall() - self._grace.total_seconds()
        doomed = [(p, size) for p, size, mtime in files if str(p) not in in_use and mtime < young]
        deleted = await asyncio.to_thread(_delete, [p for p, _ in doomed], young)
        freed = sum(size for p, size in doomed if p in deleted)
        if deleted:
            log.info("media retention: deleted %d files (%d KB)", len(deleted), freed >> 10)
        return Swept(kept=len(files) - len(deleted), deleted=len(deleted), freed_bytes=freed)

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep now, then every SWEEP_EVERY until `stop`. A failed sweep is logged and
        retried at the next turn: retention must never stop the bot."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:  # isolation boundary: the next sweep tries again
                log.exception("media retention sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), SWEEP_EVERY.total_seconds())
            except TimeoutError:
                pass

    def _files(self) -> list[tuple[Path, int, float]]:
        if not self._root.is_dir():
            return []
        found = []
        for path in self._root.iterdir():
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_file() and not path.is_symlink():
                found.append((path, info.st_size, info.st_mtime))
        return found


def _delete(paths: list[Path], young: float) -> set[Path]:
    gone = set()
    for path in paths:
        try:
            if path.stat().st_mtime >= young:
                continue  # sent again since the listing (intake touched it): in use soon
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            log.warning("media retention: cannot delete %s (%s)", path.name, err.strerror)
            continue
        gone.add(path)
    return gone
