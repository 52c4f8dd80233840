"""Which shards this process connects, decided at each connect from what Discord says
(GET /gateway/bot): the count (VIDEOBOT_DISCORD_SHARDS, or Discord's recommendation), this
process's ids (VIDEOBOT_DISCORD_SHARD_IDS, or all), and the identify buckets (max_concurrency).
Discord routes a guild's events to shard (guild_id >> 22) % count, and DMs to shard 0."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from discord.http import HTTPClient

log = logging.getLogger("videobot.discord")


@dataclass(frozen=True)
class ShardPlan:
    count: int
    ids: tuple[int, ...]
    max_concurrency: int

    def describe(self) -> str:
        ids = ", ".join(map(str, self.ids))
        return (
            f"shard {ids} of {self.count}"
            if len(self.ids) == 1
            else f"shards {ids} of {self.count}"
        )


async def plan_shards(
    http: HTTPClient, count: int | None, ids: tuple[int, ...] | None
) -> ShardPlan:
    """Ask Discord (REST, logged in) for its recommendation and session-start limits, and
    settle the plan. Raises discord.GatewayNotFound when Discord cannot answer."""
    recommended, _, limits = await http.get_bot_gateway()
    total = count or recommended
    if count is not None and count < recommended:
        log.warning(
            "VIDEOBOT_DISCORD_SHARDS is %d but Discord recommends %d for this bot; Discord "
            "refuses a shard with too many servers (close code 4011), so raise it",
            count, recommended,
        )  # fmt: skip
    chosen = ids or tuple(range(total))  # ids were checked against a fixed count
    remaining = int(limits.get("remaining", len(chosen)))
    if remaining < len(chosen):
        log.warning(
            "Discord allows %d more session starts before its daily limit resets in %.0f "
            "minutes; %d shards want one",
            remaining, limits.get("reset_after", 0) / 60_000, len(chosen),
        )  # fmt: skip
    plan = ShardPlan(total, chosen, max(1, int(limits.get("max_concurrency", 1))))
    log.info("Discord: connecting %s (identify buckets: %d)", plan.describe(), plan.max_concurrency)
    return plan
