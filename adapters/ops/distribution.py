"""`videobot doctor`'s rows for a bot serving many servers and workspaces: the Discord shard
plan (the count, this process's shard ids, Discord's identify concurrency and recommendation
from /gateway/bot when it answers) and the Slack installations stored when OAuth is on."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import httpx
import psycopg

from adapters.ops.check import Check
from bot.config import Settings
from storage.postgres.connect import PgLedgerError, connect

# slack-sdk's SQLAlchemy installation store keeps a row per install (history); a workspace is
# its (enterprise, team) pair.
_INSTALLED = (
    "SELECT COUNT(*) FROM (SELECT DISTINCT coalesce(enterprise_id, ''), coalesce(team_id, '') "
    "FROM slack_bots) AS installed"
)


async def check_shards(settings: Settings, http: httpx.AsyncClient | None) -> list[Check]:
    """The shard plan; `http` None (offline) shows the settings alone."""
    token = settings.discord_token
    if token is None:
        return []
    count, ids = settings.discord_shard_plan()
    mine = "all" if ids is None else ", ".join(map(str, ids))
    planned = f"{count} shards" if count is not None else "shard count from Discord"
    if http is None:
        return [Check("Discord shards", True, f"{planned}; this process runs {mine}")]
    base = (settings.discord_api_url or "https://discord.com/api/v10").rstrip("/")
    headers = {"Authorization": f"Bot {token.get_secret_value()}"}
    try:
        response = await http.get(f"{base}/gateway/bot", headers=headers)
        body = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        body = {}
    if not body:
        seen = f"{planned}; this process runs {mine}; Discord's identify limits unknown"
        return [Check("Discord shards", True, seen)]
    recommended = int(body.get("shards", 1))
    concurrency = int(body.get("session_start_limit", {}).get("max_concurrency", 1))
    total = count or recommended
    detail = (
        f"{total} shards (Discord recommends {recommended}); this process runs {mine}; "
        f"max_concurrency {concurrency}"
    )
    if total < recommended:
        fix = f"set VIDEOBOT_DISCORD_SHARDS to {recommended} or more (or leave it automatic)"
        return [Check("Discord shards", False, detail, fix)]
    return [Check("Discord shards", True, detail)]


async def check_installations(settings: Settings) -> list[Check]:
    """How many workspaces installed the app, read from the ledger's database (never made)."""
    if not settings.slack_oauth:
        return []
    url = settings.database_url
    try:
        if url is not None:
            found = await _count_pg(url.get_secret_value())
        else:
            found = await asyncio.to_thread(_count_sqlite, settings.ledger_path)
    except (PgLedgerError, psycopg.Error, sqlite3.Error) as err:
        detail = f"the installation store cannot be read ({type(err).__name__})"
        return [Check("Slack installs", False, detail, "check the ledger's database")]
    if found is None:
        return [Check("Slack installs", True, "none yet; the first start creates the store")]
    fix = "" if found else "open /slack/install on your public URL to add the app to a workspace"
    return [Check("Slack installs", True, f"{found} workspace(s) installed the app", fix)]


async def _count_pg(url: str) -> int | None:
    conn = await connect(url)
    try:
        cur = await conn.execute("SELECT to_regclass('slack_bots') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return None
        cur = await conn.execute(_INSTALLED)
        return int(str((await cur.fetchone() or (0,))[0]))
    finally:
        await conn.close()


def _count_sqlite(path: Path) -> int | None:
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'slack_bots'").fetchone()
        return int(conn.execute(_INSTALLED).fetchone()[0]) if made else None
