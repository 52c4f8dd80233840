"""`videobot migrate-ledger`, Slack's part: the OAuth installations (every workspace's token)
and pending install states that slack-sdk's SQLAlchemy stores keep beside the SQLite ledger,
copied into the PostgreSQL database through the stores' own tables. Rows already there are
left as they are, so running it twice copies nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Table, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

# What tells one stored row from another (the autoincrement id is the target's own to give).
_KEYS = {
    "slack_installations": ("client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
    "slack_bots": ("client_id", "enterprise_id", "team_id", "installed_at"),
    "slack_oauth_states": ("state",),
}

# An install state is consumed (deleted) when its install completes: copied again on a second
# run it would come back, so states move only into a table this run creates.
_ONCE = frozenset({"slack_oauth_states"})


def _async_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"postgresql+psycopg://{rest}" if scheme in ("postgres", "postgresql") else url


def _tables() -> list[Table]:
    # The stores' own table definitions; no engine is touched to build them.
    unused = create_async_engine("sqlite+aiosqlite://")
    installs = AsyncSQLAlchemyInstallationStore(client_id="", engine=unused)
    states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=unused)
    return [installs.installations, installs.bots, states.oauth_states]


def _columns(conn: Connection) -> dict[str, set[str]]:
    found = inspect(conn)
    return {name: {c["name"] for c in found.get_columns(name)} for name in found.get_table_names()}


async def _rows(source: AsyncConnection, table: Table, present: set[str]) -> list[dict[str, Any]]:
    # Only the columns the file has (an older slack-sdk may have written fewer), never the id.
    columns = [c for c in table.c if c.name in present and c.name != "id"]
    result = await source.execute(select(*columns).order_by(table.c.id))
    return [dict(row._mapping) for row in result]


async def copy_slack_installs(path: Path, url: str) -> int:
    """Copy the Slack stores' rows from the SQLite file at `path` into PostgreSQL at `url`;
    how many rows were copied. A file without those tables copies nothing. Raises what the
    drivers raise (sqlalchemy.exc.SQLAlchemyError)."""
    source_engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    target_engine = create_async_engine(_async_url(url))
    copied = 0
    try:
        async with source_engine.connect() as source:
            present = await source.run_sync(_columns)
            tables = [t for t in _tables() if t.name in present]
            if not tables:
                return 0
            async with target_engine.begin() as target:
                existing = await target.run_sync(_columns)
                # The stores' own metadata makes the tables (and the sequences ids come from).
                for metadata in {id(t.metadata): t.metadata for t in tables}.values():
                    await target.run_sync(metadata.create_all, checkfirst=True)
                for table in tables:
                    if table.name in _ONCE and table.name in existing:
                        continue
                    copied += await _copy(source, target, table, present[table.name])
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return copied


async def _copy(
    source: AsyncConnection, target: AsyncConnection, table: Table, present: set[str]
) -> int:
    keys = [table.c[k] for k in _KEYS[table.name]]
    there = {tuple(row) for row in await target.execute(select(*keys))}
    rows = [
        row
        for row in await _rows(source, table, present)
        if tuple(row.get(k.name) for k in keys) not in there
    ]
    if rows:
        await target.execute(table.insert(), rows)
    return len(rows)
