"""Who may IDENTIFY next. Discord starts at most one session per 5 seconds in each identify
bucket (`shard_id % max_concurrency`) across every process of the bot; a faster start is
refused. The gate spaces them; `FileIdentifyGate` serves processes on one machine (a lock file
per bucket), and a database-backed gate can serve many machines behind the same port."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

log = logging.getLogger("videobot.discord")

IDENTIFY_SPACING = timedelta(seconds=5)
# The gate admits a shard just before discord.py sends its IDENTIFY, not at the moment it does:
# a little more than Discord's spacing keeps two sends apart even when the first one was slow.
_MARGIN = timedelta(milliseconds=500)
_POLL_SECONDS = 0.05


class IdentifyGate(Protocol):
    async def admit(self, bucket: int) -> None:
        """Return once this process may IDENTIFY in `bucket`, the time recorded so that the
        next admission in that bucket, in any process, comes a full spacing later. Waits as
        long as it takes; cancelling it leaves nothing recorded or held."""
        ...


def bucket_of(shard_id: int, max_concurrency: int) -> int:
    return shard_id % max(1, max_concurrency)


class FileIdentifyGate:
    """One file per bucket in `folder`: an exclusive flock is held while a process waits out
    the spacing and writes its identify time (wall clock, which every process shares) into it.
    The kernel drops the lock of a process that dies, so a crash never wedges the others."""

    def __init__(
        self,
        folder: Path,
        *,
        spacing: timedelta = IDENTIFY_SPACING + _MARGIN,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._folder = folder
        self._spacing = spacing.total_seconds()
        self._clock = clock
        self._sleep = sleep

    async def admit(self, bucket: int) -> None:
        with self._open(bucket) as fd:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    # Polled rather than blocked in a thread: cancelling must not leave a
                    # thread that takes the lock after we gave up.
                    await asyncio.sleep(_POLL_SECONDS)
            last = _read_time(fd)
            wait = last + self._spacing - self._clock()
            if wait > 0:
                log.info("waiting %.1fs to start a Discord session (identify bucket %d)",
                         wait, bucket)  # fmt: skip
                await self._sleep(wait)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self._clock():.6f}\n".encode(), 0)

    @contextlib.contextmanager
    def _open(self, bucket: int) -> Iterator[int]:
        self._folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(
            self._folder / f"bucket-{bucket}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644
        )
        try:
            yield fd
        finally:
            os.close(fd)  # releases the lock too


def _read_time(fd: int) -> float:
    text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    try:
        return float(text)
    except ValueError:
        return 0.0  # a new bucket (or a file cut short by a crash): no identify to wait for
