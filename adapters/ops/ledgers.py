"""The ledger an operator command reads: PostgreSQL when VIDEOBOT_DATABASE_URL is set, else the
SQLite file, which is never created by reading it (an operator with a mistyped VIDEOBOT_DB
would read "(no tasks)" about the wrong file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.config import Settings
from bot.dburl import redacted
from storage.postgres.connect import PgLedgerError
from storage.postgres.ledger import PgLedger
from storage.sqlite.ledger import LedgerError, SqliteLedger

AnyLedger = SqliteLedger | PgLedger


class NoLedger(Exception):
    """The ledger cannot be read; the message is one line for the operator."""


@asynccontextmanager
async def operator_ledger(
    settings: Settings, command: str
) -> AsyncIterator[tuple[AnyLedger, str]]:
    """The configured ledger and where it is (the URL without its password, or the path), for
    `videobot <command>`. Raises NoLedger."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        try:
            async with PgLedger.open(url) as pg:
                yield pg, redacted(url)
        except PgLedgerError as err:
            raise NoLedger(f"error: {err}") from None
        return
    path = settings.ledger_path
    if not path.is_file():
        demo = path.with_name("demo.db")
        beside = (
            f"; the demo's ledger is beside it: VIDEOBOT_DB={demo} videobot {command}"
            if demo.is_file() and demo != path
            else ""
        )
        raise NoLedger(
            f"no ledger at {path}: nothing has run with this VIDEOBOT_DATA_DIR / VIDEOBOT_DB "
            f"(set them as the bot has them){beside}"
        )
    try:
        async with SqliteLedger.open(path) as ledger:
            yield ledger, str(path)
    except LedgerError as err:
        raise NoLedger(f"error: {err}") from None
