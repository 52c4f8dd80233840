"""Who and where a Slack request is: the ReplyTarget every handler builds from a payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.slack.installed import enterprise_id as org
from bot.domain import ReplyTarget

PLATFORM = "slack"


def utc_now() -> datetime:
    return datetime.now(UTC)


def who(team_id: str, channel_id: str, user_id: str, thread_ts: str | None = None) -> ReplyTarget:
    # A mention renders as the user's name and follows renames; org(): Grid's bot token key.
    return ReplyTarget(PLATFORM, team_id, channel_id, user_id, thread_ts, f"<@{user_id}>", org())


def team_of(body: dict[str, Any]) -> str:
    team = body.get("team")
    if isinstance(team, dict):
        return str(team.get("id") or "")
    return str(body.get("team_id") or body.get("user", {}).get("team_id") or "")
