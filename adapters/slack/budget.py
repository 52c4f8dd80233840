"""Slack's per-workspace budget for chat.update (Tier 3), shared by every task of a workspace,
so progress edits never crowd out the final ones."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

_WINDOW = 60.0


class EditAllowance(Protocol):
    """Where chat.update calls are counted: this process (EditBudget), or a database shared by
    every worker process (storage/postgres/edits.py), since Slack's limit is per workspace."""

    async def take(self, workspace_id: str, final: bool) -> timedelta | None:
        """Spend one edit; returns None if allowed, else how long until one is available."""
        ...


class EditBudget:
    """chat.update calls per workspace in any rolling minute (Tier 3: ~50 per workspace, shared
    by every task). Progress edits may use `progress_share` of it, so final edits (which the
    worker retries until shown) still find room when many tasks render at once."""

    def __init__(
        self,
        per_minute: int = 50,
        progress_share: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = per_minute
        self._progress_limit = int(per_minute * progress_share)
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    async def take(self, workspace_id: str, final: bool) -> timedelta | None:
        """Spend one edit; returns None if allowed, else how long until one is available."""
        now = self._clock()
        sent = self._sent.setdefault(workspace_id, deque())
        while sent and sent[0] <= now - _WINDOW:
            sent.popleft()
        limit = self._limit if final else self._progress_limit
        if len(sent) >= limit:
            return timedelta(seconds=max(0.1, sent[len(sent) - limit] + _WINDOW - now))
        sent.append(now)
        return None
