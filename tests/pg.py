"""PostgreSQL for tests: a server at VIDEOBOT_TEST_DATABASE_URL (the local one by default), a
migrated template database made once per session, and a throwaway copy of it per test (CREATE
DATABASE ... TEMPLATE is a file copy: fast), dropped afterwards. With no server answering, PG
tests are skipped and the run says how many; VIDEOBOT_REQUIRE_POSTGRES=1 (CI) fails them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from storage.postgres.ledger import PgLedger

ADMIN_URL = os.environ.get(
    "VIDEOBOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRED = os.environ.get("VIDEOBOT_REQUIRE_POSTGRES", "") not in ("", "0")
SKIP_REASON = "no PostgreSQL answers at VIDEOBOT_TEST_DATABASE_URL"


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.encode())


def server_answers() -> bool:
    try:
        _admin("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def need_server() -> None:
    """Skip (or, under VIDEOBOT_REQUIRE_POSTGRES, fail) a test when no server answers."""
    if not server_answers():
        if REQUIRED:
            pytest.fail(f"{SKIP_REASON} ({ADMIN_URL}) and VIDEOBOT_REQUIRE_POSTGRES is set")
        pytest.skip(SKIP_REASON)


class Databases:
    """The session's template and the throwaway copies made from it."""

    def __init__(self) -> None:
        self.template: str | None = None

    def ensure_template(self) -> str:
        if self.template is None:
            name = f"videobot_tpl_{uuid.uuid4().hex[:12]}"
            _admin(f'CREATE DATABASE "{name}"')
            self.template = name

            async def migrate() -> None:
                async with PgLedger.open(database_url(name), max_size=1):
                    pass

            asyncio.run(migrate())
        return self.template

    def copy(self) -> str:
        name = f"videobot_t_{uuid.uuid4().hex[:12]}"
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.ensure_template()}"')
        return name

    def drop(self, name: str) -> None:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


DATABASES = Databases()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    yield DATABASES
    if DATABASES.template is not None:
        DATABASES.drop(DATABASES.template)


@pytest.fixture
def pg_url(pg_databases: Databases) -> Iterator[str]:
    """A throwaway, migrated database's URL, dropped after the test."""
    need_server()
    name = pg_databases.copy()
    try:
        yield database_url(name)
    finally:
        pg_databases.drop(name)


@asynccontextmanager
async def pg_ledger(url: str, platforms: frozenset[str] | None = None) -> AsyncIterator[PgLedger]:
    async with PgLedger.open(url, platforms, max_size=4) as ledger:
        yield ledger
