"""Opening the PostgreSQL ledger: a URL shown without its password, a first connection whose
failure is one plain line, and the migrations, run once under an advisory lock whoever starts
first."""

from __future__ import annotations

import logging

import psycopg

from bot.dburl import password, redacted
from storage.postgres.schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("videobot.ledger")
CONNECT_TIMEOUT_S = 10


class PgLedgerError(RuntimeError):
    """The PostgreSQL ledger cannot be reached or used (unreachable, refused, newer schema)."""


def _reason(err: psycopg.Error, url: str) -> str:
    """The server's or libpq's own words, first line only, with the password kept out."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    secret = password(url)
    return text.replace(secret, "***") if secret else text


async def connect(url: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """One autocommit connection, or PgLedgerError saying what to fix."""
    try:
        return await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )
    except psycopg.Error as err:
        raise PgLedgerError(
            f"cannot reach the PostgreSQL ledger at {redacted(url)} ({_reason(err, url)}); "
            "check VIDEOBOT_DATABASE_URL and that the server is running"
        ) from None


async def schema_version(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
    """The schema's version, 0 before the first migration."""
    cur = await conn.execute("SELECT to_regclass('videobot_schema') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return 0
    cur = await conn.execute("SELECT version FROM videobot_schema")
    found = await cur.fetchone()
    return int(str(found[0])) if found else 0


async def migrate(url: str) -> int:
    """Bring the schema to SCHEMA_VERSION in one transaction under an advisory lock: a second
    process starting at the same moment waits on the lock, then finds nothing left to do.
    Returns how many steps ran here."""
    conn = await connect(url)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS videobot_schema (version INT NOT NULL)")
            version = await schema_version(conn)
            if version > SCHEMA_VERSION:
                raise PgLedgerError(
                    f"the ledger's schema is version {version}, newer than this videobot "
                    f"({SCHEMA_VERSION}); upgrade videobot"
                )
            for number in range(version, SCHEMA_VERSION):
                await conn.execute(MIGRATIONS[number].encode())
            if version == 0:
                await conn.execute("INSERT INTO videobot_schema VALUES (%s)", (SCHEMA_VERSION,))
            else:
                await conn.execute("UPDATE videobot_schema SET version = %s", (SCHEMA_VERSION,))
        if version < SCHEMA_VERSION:
            log.info("ledger schema migrated from v%d to v%d", version, SCHEMA_VERSION)
        return SCHEMA_VERSION - version
    except psycopg.Error as err:
        raise PgLedgerError(
            f"the PostgreSQL ledger at {redacted(url)} is not usable ({_reason(err, url)})"
        ) from None
    finally:
        await conn.close()
