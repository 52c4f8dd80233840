"""The single writer's group commit: a statement that cannot be run (its own fault, such as text
SQLite cannot encode) fails alone and at once; the writes committed beside it are not held back,
retried or failed with it. Only a failure of the whole transaction (disk full) is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.sqlite.writer import GroupWriter


async def test_a_statement_that_cannot_run_fails_alone_and_is_not_retried(
    tmp_path: Path,
) -> None:
    writer = GroupWriter(tmp_path / "w.db")
    await writer.open([])
    await writer.script("CREATE TABLE t (v TEXT)")
    try:
        good = [writer.write("INSERT INTO t VALUES (?)", (f"ok {i}",)) for i in range(3)]
        bad = writer.write("INSERT INTO t VALUES (?)", ("a lone \ud83d surrogate",))
        results = await asyncio.wait_for(
            asyncio.gather(*good[:2], bad, good[2], return_exceptions=True), 5
        )
    finally:
        await writer.close()
    assert results[:2] == [1, 1] and results[3] == 1  # committed in the same group
    assert isinstance(results[2], UnicodeEncodeError)  # its own error, at once, no retry loop


@pytest.mark.parametrize("value", [2**70])
async def test_an_unbindable_number_is_the_statements_own_error(tmp_path: Path, value: int) -> None:
    writer = GroupWriter(tmp_path / "w.db")
    await writer.open([])
    await writer.script("CREATE TABLE t (v INTEGER)")
    try:
        with pytest.raises(OverflowError):
            await asyncio.wait_for(writer.write("INSERT INTO t VALUES (?)", (value,)), 5)
    finally:
        await writer.close()
