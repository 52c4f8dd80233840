"""The settings of Discord sharding (a part of `bot.config.Settings`): how many shards the bot
runs, which of them this process serves, and this process's share of Discord's global REST
budget. Checked at start, each refusal naming the setting to change."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.callbacks import env as _env

DISCORD_GLOBAL_RATE = 50.0  # requests per second per bot token, Discord's global REST limit
ShardIds = Annotated[tuple[int, ...] | None, NoDecode]


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """`0-1`, `2,3`, `0-3,8`: ranges include both ends; the ids come back sorted, once each."""
    ids: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"give shard ids as a list or ranges, e.g. 0-1 or 2,3 (not {text!r})")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"the range {part} runs backwards; write it as {last}-{first}")
        ids.update(range(first, last + 1))
    if not ids:
        raise ValueError("give at least one shard id, e.g. 0-1 (or leave it unset for all)")
    return tuple(sorted(ids))


# Discord recommends a shard per ~1,000 servers: 10,000 shards is ten million servers, far
# beyond any bot; a larger count is a typo that would open that many connections.
MAX_SHARDS = 10_000


class ShardSettings(BaseSettings):
    # A count, or `auto`: the number Discord recommends for the bot (GET /gateway/bot).
    discord_shards: int | Literal["auto"] = Field(
        "auto", validation_alias=_env("VIDEOBOT_DISCORD_SHARDS")
    )
    # The shards this process connects (default: all of them).
    discord_shard_ids: ShardIds = Field(None, validation_alias=_env("VIDEOBOT_DISCORD_SHARD_IDS"))
    # Requests per second this process may send to Discord's REST API. Discord allows a bot 50
    # in all: with several processes, give each its share (or point DISCORD_API_URL at a proxy
    # that spends the budget for all of them).
    discord_rest_rate: float = Field(
        DISCORD_GLOBAL_RATE,
        gt=0,
        le=DISCORD_GLOBAL_RATE,
        allow_inf_nan=False,
        validation_alias=_env("VIDEOBOT_DISCORD_REST_RATE"),
    )

    @field_validator("discord_shards", mode="before")
    @classmethod
    def _count(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("", "auto"):
                return "auto"
            if not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
                raise ValueError(
                    f"give a number of shards from 1 to {MAX_SHARDS}, or auto (not {value!r})"
                )
            return int(text)
        return value

    @field_validator("discord_shards")
    @classmethod
    def _count_in_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_SHARDS:
            raise ValueError(f"give a number of shards from 1 to {MAX_SHARDS}, or auto")
        return value

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_shard_ids(value) if value.strip() else None
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> ShardSettings:
        ids, count = self.discord_shard_ids, self.discord_shards
        if ids is None:
            return self
        if count == "auto":
            # Two processes could each learn a different recommended count: every process
            # must agree on it, so a shard range needs the count written down.
            raise ValueError(
                "VIDEOBOT_DISCORD_SHARD_IDS needs VIDEOBOT_DISCORD_SHARDS set to the same number "
                "in every process (not auto)"
            )
        if outside := [i for i in ids if i >= count]:
            raise ValueError(
                f"VIDEOBOT_DISCORD_SHARD_IDS: shard {outside[0]} is outside 0-{count - 1} "
                f"(VIDEOBOT_DISCORD_SHARDS is {count}); shard ids count from 0"
            )
        return self

    def discord_shard_plan(self) -> tuple[int | None, tuple[int, ...] | None]:
        """(count, ids): None for a count Discord is to recommend, None for every shard."""
        count = None if self.discord_shards == "auto" else self.discord_shards
        return count, self.discord_shard_ids
