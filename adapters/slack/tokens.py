"""Whose token a Slack call carries: the one SLACK_BOT_TOKEN, or the installing workspace's bot
token from the installation store, refreshed before it expires (token rotation) under a
per-workspace lock, so a refresh token, which Slack accepts once, is spent once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("videobot.slack")

# Refresh a rotating token when it has less than this left (Slack's tokens live 12 hours).
REFRESH_MINUTES = 120
# Bolt's own refresh (on incoming requests) looks this far ahead: less than ours, so a token
# handed to Bolt by RotatingInstallationStore never looks due to it.
BOLT_REFRESH_MINUTES = 60


class BotTokens(Protocol):
    async def bot_token(self, team_id: str, enterprise_id: str | None) -> str | None:
        """The workspace's bot token, fresh (refreshed first when it is about to expire);
        None when the app is not installed there (any more). Raises SlackTokenRotationError
        when Slack refuses a refresh, and what the database raises when it is unreachable."""
        ...


class StaticToken:
    """SLACK_BOT_TOKEN: one workspace, one token that never rotates, until the workspace
    uninstalls the app or revokes it (`revoke()`): then there is none."""

    def __init__(self, token: str) -> None:
        self._token: str | None = token

    async def bot_token(self, team_id: str, enterprise_id: str | None) -> str | None:
        return self._token

    def revoke(self) -> None:
        self._token = None


class RefreshLock(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Exclusive use of `key` among everyone sharing the lock, for the block's duration."""
        ...


class LocalRefreshLock:
    """An asyncio lock per key: enough when one process serves the database (SQLite)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(key, asyncio.Lock()):
            yield


class PostgresRefreshLock:
    """A session advisory lock per key in PostgreSQL, so processes on other machines wait too;
    the local lock in front keeps a process's own waiters off the database's connections."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._local = LocalRefreshLock()

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock_id = {"key": f"videobot.slack.refresh:{key}"}
        async with self._local.hold(key), self._engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:key, 0))"), lock_id)
            try:
                yield
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))"), lock_id
                )
                await conn.commit()


def refresh_lock(engine: AsyncEngine) -> RefreshLock:
    """The lock that holds across every process sharing `engine`'s database."""
    if engine.dialect.name == "postgresql":
        return PostgresRefreshLock(engine)
    return LocalRefreshLock()  # a SQLite ledger is one process's alone


def _workspace(enterprise_id: str | None, team_id: str | None) -> str:
    return f"{enterprise_id or '-'}:{team_id or '-'}"


def _due(bot: Bot, minutes: int) -> bool:
    expires = bot.bot_token_expires_at
    return bool(bot.bot_refresh_token) and expires is not None and expires <= time.time() + (
        minutes * 60
    )


class RotatingInstallationStore(AsyncInstallationStore):
    """slack-sdk's installation store, handing out only fresh bot tokens: Bolt reads through
    it for incoming requests and the worker (which has no request to trigger Bolt's refresh)
    through `bot_token`. Everything else is the wrapped store's own behaviour."""

    def __init__(
        self,
        store: AsyncInstallationStore,
        rotator: AsyncTokenRotator,
        lock: RefreshLock,
        minutes: int = REFRESH_MINUTES,
    ) -> None:
        self._store = store
        self._rotator = rotator
        self._lock = lock
        self._minutes = minutes

    @property
    def logger(self) -> logging.Logger:
        return log

    async def bot_token(self, team_id: str, enterprise_id: str | None) -> str | None:
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None and enterprise_id:  # an org-wide install covers every workspace in it
            bot = await self.async_find_bot(
                enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
            )
        return bot.bot_token if bot is not None else None

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        where: dict[str, Any] = {
            "enterprise_id": enterprise_id,
            "team_id": team_id,
            "is_enterprise_install": is_enterprise_install,
        }
        bot = await self._store.async_find_bot(**where)
        if bot is None or not _due(bot, self._minutes):
            return bot
        workspace = _workspace(enterprise_id, None if is_enterprise_install else team_id)
        async with self._lock.hold(workspace):
            # Read again under the lock: whoever held it before us may have refreshed already,
            # and the refresh token we read first is then spent.
            bot = await self._store.async_find_bot(**where)
            if bot is None or not _due(bot, self._minutes):
                return bot
            fresh = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=self._minutes
            )
            if fresh is None:
                return bot
            await self._store.async_save_bot(fresh)
            log.info("slack: refreshed the bot token of workspace %s", workspace)
            return fresh

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await self._store.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        if found is None or not found.bot_token:
            return found
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if bot is not None:
            found.bot_token = bot.bot_token
            found.bot_refresh_token = bot.bot_refresh_token
            found.bot_token_expires_at = bot.bot_token_expires_at
        return found

    async def async_save(self, installation: Installation) -> None:
        await self._store.async_save(installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._store.async_save_bot(bot)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._store.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._store.async_delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._store.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)
