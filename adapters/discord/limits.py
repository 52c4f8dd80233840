"""What a Discord server lets the bot upload. Interactions carry the real per-server limit
(boosts raise it), but they reach the intake, while the upload is a worker's: with a shared
store (the PostgreSQL ledger's database) what one process learns every process knows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import discord

from bot.domain import ReplyTarget

log = logging.getLogger("videobot.discord")
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # 10 MiB for every unboosted server and DMs


class SharedLimits(Protocol):
    """Upload limits kept where every process reads them (storage/postgres/limits.py)."""

    async def remember(self, guild_id: str, limit: int) -> None: ...

    async def recall(self, guild_id: str) -> int | None: ...


class UploadLimits:
    def __init__(
        self,
        client: discord.Client,
        max_upload_bytes: int | None = None,
        shared: SharedLimits | None = None,
    ) -> None:
        self._client = client
        self._max_upload = max_upload_bytes
        self._shared = shared
        self._known: dict[str, int] = {}  # the latest limit seen per server
        self._writes: set[asyncio.Task[None]] = set()

    def learn(self, guild_id: str, limit: int) -> None:
        """Called before the 3 s ack: never waits. A new value is written in the background."""
        if limit <= 0 or self._known.get(guild_id) == limit:
            return
        self._known[guild_id] = limit
        if self._shared is not None:
            write = asyncio.create_task(self._remember(guild_id, limit))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)

    def knows(self, guild_id: str) -> bool:
        """Whether this process has learned the server's limit (from the gateway or a read)."""
        return guild_id in self._known

    async def settled(self) -> None:
        """Wait for the limits learned so far to be shared (at close, and in tests)."""
        await asyncio.gather(*self._writes)

    async def _remember(self, guild_id: str, limit: int) -> None:
        assert self._shared is not None
        try:
            await self._shared.remember(guild_id, limit)
        except Exception as err:  # a hint for other processes; the default remains
            log.warning("could not share server %s's upload limit: %s", guild_id, err)

    async def for_target(self, target: ReplyTarget) -> int:
        guild_id = target.workspace_id
        limit = self._known.get(guild_id)
        if limit is None and guild_id.isdigit():
            guild = self._client.get_guild(int(guild_id))
            limit = guild.filesize_limit if guild is not None else None
        if limit is None and self._shared is not None and guild_id.isdigit():
            with contextlib.suppress(Exception):  # unreadable: the default below
                limit = await self._shared.recall(guild_id)
        limit = limit or DEFAULT_UPLOAD_LIMIT
        return min(limit, self._max_upload) if self._max_upload else limit
