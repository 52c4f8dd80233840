"""The ledger's process lock in-process (flock is per open file, so a second open in the same
process is refused as another process would be); the real-process cases are in
tests/test_process.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.sqlite.ledger import LedgerError
from storage.sqlite.lock import LedgerBusy, hold_ledger, holder, lock_path


def test_a_second_holder_is_refused_naming_the_first_pid(tmp_path: Path) -> None:
    ledger = tmp_path / "data" / "videobot.db"
    assert holder(ledger) is None
    with hold_ledger(ledger):
        assert holder(ledger) == os.getpid()
        with pytest.raises(LedgerBusy) as refused, hold_ledger(ledger):
            pass
        assert refused.value.pid == os.getpid()
        assert f"(pid {os.getpid()})" in str(refused.value)
        assert "\n" not in str(refused.value) and "VIDEOBOT_DB" in str(refused.value)
    assert holder(ledger) is None  # released with the block
    with hold_ledger(ledger):  # and can be taken again
        pass
    assert lock_path(ledger).read_text().strip() == str(os.getpid())


def test_an_unwritable_folder_is_a_ledger_error_not_a_traceback(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    with pytest.raises(LedgerError, match="lock file"), hold_ledger(blocked / "videobot.db"):
        pass


def test_a_ledger_reached_through_a_symlink_is_the_same_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "data" / "videobot.db"
    ledger.parent.mkdir()
    ledger.write_bytes(b"")
    alias = tmp_path / "other" / "alias.db"
    alias.parent.mkdir()
    alias.symlink_to(ledger)
    linked_folder = tmp_path / "linked"
    linked_folder.symlink_to(ledger.parent)
    with hold_ledger(ledger):
        for other_name in (alias, linked_folder / "videobot.db"):
            with pytest.raises(LedgerBusy), hold_ledger(other_name):
                pass
