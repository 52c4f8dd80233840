"""Installs by any workspace: slack-sdk's own SQLAlchemy installation and OAuth state stores,
kept in the ledger's database (SQLite tables beside the ledger's, or PostgreSQL), and the
AsyncOAuthSettings with which Bolt serves /slack/install and /slack/oauth_redirect."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.slack.files import origin
from adapters.slack.tokens import BOLT_REFRESH_MINUTES, RotatingInstallationStore, refresh_lock
from bot.config import Settings

log = logging.getLogger("videobot.slack")

# slack-manifest.yml's oauth_config.scopes.bot, asked of every installing workspace unless
# SLACK_SCOPES says otherwise (tests/adapters/slack/test_manifest.py keeps the two equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "files:write",
    "files:read",
    "app_mentions:read",
    "channels:history",
    "groups:history",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
STATE_SECONDS = 600  # an install started and not finished within 10 minutes starts again
# The ledger's own writer waits this long for SQLite's write lock; the stores wait as long.
_BUSY_TIMEOUT_MS = 5000


def database_url(target: str | Path) -> str:
    """The SQLAlchemy async URL for the ledger's database: a SQLite file path becomes
    `sqlite+aiosqlite:///<path>`; a PostgreSQL URL gets the psycopg (async) driver."""
    if isinstance(target, Path):
        return f"sqlite+aiosqlite:///{target}"
    scheme, sep, rest = target.partition("://")
    if not sep:
        return f"sqlite+aiosqlite:///{target}"
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    return target  # already names its driver


def _sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Share the file with the ledger's writer: wait for its lock as long as it waits for ours
    # (sqlite3's own default is 5 s too; said here so the two stay equal), and keep WAL (the
    # ledger sets it; a store opened first must not leave the file in rollback mode).
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@dataclass
class InstallStores:
    """The installation and state stores over one engine; `close()` releases its pool."""

    engine: AsyncEngine
    installations: AsyncSQLAlchemyInstallationStore
    states: AsyncSQLAlchemyOAuthStateStore

    @classmethod
    def create(cls, url: str, client_id: str) -> InstallStores:
        """The stores over a new engine (no connection yet: `prepare()` makes the first)."""
        engine = create_async_engine(url, pool_pre_ping=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_connection)
        installations = AsyncSQLAlchemyInstallationStore(client_id=client_id, engine=engine)
        states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine)
        return cls(engine, installations, states)

    async def prepare(self) -> None:
        """Create the stores' tables where they are missing. Raises what the driver raises
        when the database cannot be reached."""
        for attempt in range(2):
            try:
                await self.installations.create_tables()  # type: ignore[no-untyped-call]
                await self.states.create_tables()  # type: ignore[no-untyped-call]
                return
            except DBAPIError:
                # Two replicas starting at once may both find a table missing and both create
                # it; the loser sees it exist on the second look.
                if attempt:
                    raise
        return

    async def close(self) -> None:
        await self.engine.dispose()


@dataclass
class Distribution:
    """What serving any workspace adds: the stores, the token source the worker and Bolt
    share (refreshing under one lock), and Bolt's OAuth settings over them."""

    stores: InstallStores
    tokens: RotatingInstallationStore
    settings: AsyncOAuthSettings

    @classmethod
    def create(
        cls, settings: Settings, client: AsyncWebClient, database: str | Path
    ) -> Distribution:
        client_id, secret = settings.slack_client_id, settings.slack_client_secret
        assert client_id is not None and secret is not None, "only with SLACK_CLIENT_ID/_SECRET"
        stores = InstallStores.create(database_url(database), client_id)
        # The rotator calls oauth.v2.access through our client: SLACK_API_URL applies to it.
        rotator = AsyncTokenRotator(
            client_id=client_id, client_secret=secret.get_secret_value(), client=client
        )
        tokens = RotatingInstallationStore(
            stores.installations, rotator, refresh_lock(stores.engine)
        )
        authorize = AUTHORIZE_URL
        if settings.slack_api_url:  # another Slack (a local fake) authorizes installs too
            authorize = f"{origin(settings.slack_api_url)}/oauth/v2/authorize"
        oauth = AsyncOAuthSettings(
            client_id=client_id,
            client_secret=secret.get_secret_value(),
            scopes=list(settings.slack_scopes or BOT_SCOPES),
            user_scopes=[],
            redirect_uri=settings.slack_redirect_uri,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=authorize,
            installation_store=tokens,
            installation_store_bot_only=True,
            token_rotation_expiration_minutes=BOLT_REFRESH_MINUTES,
            state_store=stores.states,
            state_expiration_seconds=STATE_SECONDS,
            logger=log,
        )
        return cls(stores, tokens, oauth)
