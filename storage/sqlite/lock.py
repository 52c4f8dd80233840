"""One process owns a SQLite ledger: an exclusive flock on `<ledger>.lock`, held for the life of
the process and released by the kernel when it dies (even by SIGKILL), so a second `run` or
`demo` cannot run start-up recovery over the first one's live rows."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from storage.sqlite.ledger import LedgerError


class LedgerBusy(RuntimeError):
    """Another live process holds the ledger's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"another videobot (pid {pid})" if pid else "another videobot"
        super().__init__(
            f"videobot cannot start: {holder} is already serving the ledger at {path}. "
            "Stop that one first, or point VIDEOBOT_DB (or VIDEOBOT_DATA_DIR) at another ledger."
        )
        self.pid = pid


def lock_path(ledger: Path) -> Path:
    # The file the path leads to, not the name it was given: a symlinked VIDEOBOT_DB or data
    # folder reaches the same ledger, so it must meet the same lock.
    real = ledger.resolve()
    return real.with_name(real.name + ".lock")


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def hold_ledger(ledger: Path) -> Iterator[None]:
    """Take the ledger's lock for the duration of the block, or raise LedgerBusy naming the
    holder's pid. The lock file is never deleted: unlinking it would let two processes each
    lock a different file under the same name."""
    path = lock_path(ledger)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise LedgerError(
            f"cannot create the ledger's lock file {path} ({err.strerror}); fix the permissions "
            "of that folder, or point VIDEOBOT_DB at a writable place"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LedgerBusy(ledger, _read_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def holder(ledger: Path) -> int | None:
    """The pid serving `ledger` right now (0 if it has not written it yet), or None when no
    process holds its lock. Probes with a shared lock, so it never blocks and never holds
    anything past the call."""
    try:
        fd = os.open(lock_path(ledger), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file (never served) or not ours to read: nobody we can name
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        return None
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def owning(ledger: Path) -> AsyncIterator[None]:
    """`hold_ledger` for an `async with` chain (the lock call itself never blocks)."""
    with hold_ledger(ledger):
        yield
