"""The `ledger` fixture of the contract suite: every test that takes it (or `open_ledger`) runs
once on a SQLite file and once on a throwaway PostgreSQL database. A test module opts in with
`from tests.ledgers import *` (its conftest does, for tests/storage/)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from storage.sqlite.ledger import SqliteLedger
from tests.pg import pg_databases, pg_ledger, pg_url

__all__ = ["Opener", "ledger", "open_ledger", "pg_databases", "pg_url"]

Opener = Callable[[frozenset[str] | None], AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["sqlite", "postgres"])
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's one ledger (a file, or a database), optionally scoped to platforms;
    every call reaches the same rows."""
    if request.param == "sqlite":
        return lambda platforms=None: SqliteLedger.open(tmp_path / "ledger.db", platforms)
    url: str = request.getfixturevalue("pg_url")
    return lambda platforms=None: pg_ledger(url, platforms)


@pytest.fixture
async def ledger(open_ledger: Opener) -> AsyncIterator[Any]:
    async with open_ledger(None) as opened:
        yield opened
