"""A worker claims only tasks of its own provider: one configured for another provider would
poll or submit them through the wrong API and lose renders already paid for. A task recorded
before tasks named their provider is anyone's. Both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.postgres.ledger import PgLedger
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.storage.test_ledger import fresh

ProviderOpener = Callable[[str | None], AbstractAsyncContextManager[Any]]
LEASE = timedelta(minutes=10)


@pytest.fixture(params=["sqlite", "postgres"])
def open_for(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderOpener:
    """Opens the test's one ledger for a provider's worker (None: every provider)."""
    if request.param == "sqlite":
        return lambda provider: SqliteLedger.open(tmp_path / "ledger.db", None, provider)
    url: str = request.getfixturevalue("pg_url")

    @asynccontextmanager
    async def pg(provider: str | None) -> AsyncIterator[PgLedger]:
        async with PgLedger.open(url, None, max_size=2, provider=provider) as ledger:
            yield ledger

    return pg


async def test_a_worker_claims_only_its_providers_tasks(open_for: ProviderOpener) -> None:
    async with open_for(None) as ledger:
        google, _ = await ledger.add(replace(fresh("g", "U1"), provider="google"))  # type: ignore[type-var]
        guide, _ = await ledger.add(replace(fresh("a", "U2"), provider="guide"))  # type: ignore[type-var]
        older, _ = await ledger.add(replace(fresh("o", "U3"), provider=""))  # type: ignore[type-var]
        later = await ledger.save(
            google, google.submitting(T0).submitted("v1_abc", T0, T0 + timedelta(minutes=5))
        )
        assert later is not None
    async with open_for("guide") as ledger:
        assert await ledger.next_due_at(after=T0) is None  # Google's later poll is not its
        claimed = await ledger.claim(T0, 10, LEASE)
        assert sorted(t.task_id for t in claimed) == sorted([guide.task_id, older.task_id])
        assert (await ledger.get(google.task_id)).version == later.version
    async with open_for("google") as ledger:
        assert await ledger.claim(T0, 10, LEASE) == []  # not due yet, and the rest is leased
        poll_at = await ledger.next_due_at(after=T0)
        assert poll_at is not None and poll_at == later.next_check_at
        [polled] = await ledger.claim(poll_at, 10, LEASE)
        assert polled.task_id == google.task_id and polled.provider_task_id == "v1_abc"
