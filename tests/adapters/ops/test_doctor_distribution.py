"""`videobot doctor` for a bot in many servers and workspaces: the Discord shard plan against
the fake Discord's /gateway/bot, and the Slack installations counted in the ledger's database
(SQLite beside the ledger, or PostgreSQL) as slack-sdk's own store wrote them."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import io
from pathlib import Path
from typing import Any

from slack_sdk.oauth.installation_store import Installation

from adapters.ops.distribution import check_installations, check_shards
from adapters.ops.doctor import run_doctor
from adapters.slack.install import InstallStores, database_url
from bot.config import Settings
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import fake_discord
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
from tests.pg import pg_databases, pg_url

__all__ = ["pg_databases", "pg_url"]


def settings(tmp_path: Path, **values: Any) -> Settings:
    base: dict[str, Any] = {"VIDEOBOT_DB": str(tmp_path / "ledger.db"), "DISCORD_TOKEN": None}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


async def doctor_lines(config: Settings, offline: bool = False) -> list[str]:
    out = io.StringIO()
    await run_doctor(config, out, offline=offline)
    return out.getvalue().splitlines()


async def test_the_shard_plan_with_discords_limits_and_a_count_too_low(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with fake_discord(clock) as fake:
        fake.shards, fake.max_concurrency = 4, 2
        discord = {"DISCORD_TOKEN": p.BOT_TOKEN, "DISCORD_API_URL": fake.api_url}
        planned = settings(tmp_path, **discord, VIDEOBOT_DISCORD_SHARDS="4",
                           VIDEOBOT_DISCORD_SHARD_IDS="0-1")  # fmt: skip
        lines = await doctor_lines(planned)
        assert (
            "PASS  Discord shards      4 shards (Discord recommends 4); this process runs 0, 1; "
            "max_concurrency 2"
        ) in lines
        too_few = settings(tmp_path, **discord, VIDEOBOT_DISCORD_SHARDS="2")
        lines = await doctor_lines(too_few)
        row = lines.index(
            "FAIL  Discord shards      2 shards (Discord recommends 4); this process runs all; "
            "max_concurrency 2"
        )
        assert "set VIDEOBOT_DISCORD_SHARDS to 4 or more" in lines[row + 1]
    # Offline (or Discord unreachable): the settings alone, never a failure.
    (offline,) = await check_shards(too_few, None)
    assert (offline.ok, offline.detail) == (True, "2 shards; this process runs all")
    assert p.BOT_TOKEN not in "\n".join(lines)


async def test_no_discord_no_shard_row_and_no_oauth_no_install_row(tmp_path: Path) -> None:
    lines = await doctor_lines(settings(tmp_path), offline=True)
    assert not any("Discord shards" in line or "Slack installs" in line for line in lines)


def installation(team: str, token: str) -> Installation:
    return Installation(app_id="A0APP", team_id=team, user_id="U0ALICE", bot_token=token,
                        bot_id=f"B{team}", bot_user_id=f"U0BOT{team}")  # fmt: skip


async def install_two(url: str) -> None:
    """Two workspaces, the first installed twice (the store keeps both rows)."""
    stores = InstallStores.create(database_url(url), CLIENT_ID)
    try:
        await stores.prepare()
        for team, token in (("T0ONE", "xoxb-1"), ("T0ONE", "xoxb-2"), ("T0TWO", "xoxb-3")):
            await stores.installations.async_save(installation(team, token))
    finally:
        await stores.close()


def oauth(tmp_path: Path, **values: Any) -> Settings:
    return settings(tmp_path, SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
                    SLACK_SIGNING_SECRET="s" * 32, **values)  # fmt: skip


async def test_installed_workspaces_are_counted_beside_a_sqlite_ledger(tmp_path: Path) -> None:
    await counted(oauth(tmp_path), str(tmp_path / "ledger.db"), tmp_path)


async def test_installed_workspaces_are_counted_in_postgresql(tmp_path: Path, pg_url: str) -> None:
    await counted(oauth(tmp_path, VIDEOBOT_DATABASE_URL=pg_url), pg_url, tmp_path)


async def counted(config: Settings, url: str, tmp_path: Path) -> None:
    (before,) = await check_installations(config)
    assert (before.ok, before.detail) == (True, "none yet; the first start creates the store")
    assert not (tmp_path / "ledger.db").exists()  # doctor looked; it made nothing
    await install_two(url)
    lines = await doctor_lines(config, offline=True)
    assert any(line.startswith("PASS  Slack installs") and "2 workspace(s) installed the app"
               in line for line in lines), lines  # fmt: skip
    assert "xoxb-" not in "\n".join(lines)
