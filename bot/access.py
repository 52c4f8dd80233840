"""Who may ask, where, and how much: the allowlists, caps and admins from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ReplyTarget


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may ask, where, and how much. Ids are the platforms' own (`U123`, a snowflake),
    optionally qualified (`slack:U123`); an empty allowlist allows everyone."""

    daily_limit: int | None = None
    user_concurrency: int | None = None
    allowed_workspaces: frozenset[str] = frozenset()  # Slack team ids, Discord guild ids
    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()

    def is_admin(self, who: ReplyTarget) -> bool:
        return named(who.user_id, who.platform, self.admins)


def named(ident: str, platform: str, names: frozenset[str]) -> bool:
    return ident in names or f"{platform}:{ident}" in names
