"""A sharded bot's world on the fake Discord: one server per shard (ids picked so Discord's
formula puts server k on shard k), a DM, the /video interactions from each, and what a test
checks afterwards: which shard got each interaction, and the MP4 in each server and the DM."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import TaskState
from bot.task import Task
from tests.adapters.discord.test_dm import in_dm, video
from tests.fakes import discord_payloads as p
from tests.fakes.discord_interactions import shard_for
from tests.fakes.discord_server import FakeDiscord

SHARDS = 4
MAX_CONCURRENCY = 2  # identify buckets {0, 2} and {1, 3}: each split across the two processes


def guild_on_shard(shard_id: int, count: int = SHARDS) -> int:
    """A server id Discord routes to `shard_id`: (id >> 22) % count == shard_id."""
    guild_id = ((10**9 * count + shard_id) << 22) | 7
    assert shard_for(guild_id, count) == shard_id
    return guild_id


@dataclass
class Asked:
    """One /video interaction sent to the fake: from a server (guild_id) or the DM (None)."""

    guild_id: int | None
    channel_id: str
    payload: p.Json


def set_up_servers(fake: FakeDiscord) -> list[int]:
    """The bot in one server per shard (and the test server, wherever it lands)."""
    fake.shards, fake.max_concurrency = SHARDS, MAX_CONCURRENCY
    guilds = [guild_on_shard(k) for k in range(SHARDS)]
    for guild_id in guilds:
        fake.add_guild(guild_id)
    return guilds


async def ask_everywhere(fake: FakeDiscord, guilds: list[int]) -> list[Asked]:
    """/video from each server and from a DM; returns once every handler said "Got it"."""
    asked: list[Asked] = []
    for guild_id in guilds:
        channel_id = fake.guild_channel(guild_id)
        channel = p.text_channel(int(channel_id), guild_id)
        prompt = [p.option("prompt", f"a lighthouse seen from server {guild_id}")]
        asked.append(Asked(guild_id, channel_id, p.slash("video", prompt, channel=channel,
                                                         guild_id=guild_id)))  # fmt: skip
    dm = fake.open_dm()
    asked.append(Asked(None, dm["id"], in_dm(dm, video("a lighthouse seen from a DM"))))
    for one in asked:
        await fake.interact(one.payload)
    await fake.wait_for(
        lambda: (
            sum(str(f.get("content", "")).startswith("Got it") for f in fake.followups)
            >= len(asked)
        ),
        within=30,
    )
    return asked


def shards_that_got(fake: FakeDiscord, asked: list[Asked]) -> dict[int | None, list[int]]:
    """For each server (None: the DM), the shards its interaction was sent to."""
    got: dict[int | None, list[int]] = {a.guild_id: [] for a in asked}
    for d in fake.delivered:
        if d.event == "INTERACTION_CREATE":
            got[d.guild_id].append(d.shard_id)
    return got


def assert_each_delivered_where_asked(
    fake: FakeDiscord, asked: list[Asked], tasks: list[Task]
) -> None:
    """Every task delivered, its MP4 in its own server's thread (or the DM), once."""
    assert len(tasks) == len(asked)
    by_channel = {t.target.channel_id: t for t in tasks}
    for one in asked:
        task = by_channel[one.channel_id]
        assert task.state is TaskState.DELIVERED, task
        assert task.target.workspace_id == (str(one.guild_id) if one.guild_id else "@me")
        where = one.channel_id if one.guild_id is None else task.status_message_id or ""
        videos = [m for m in fake.in_channel(where)
                  if any(a["filename"].endswith(".mp4") for a in m["attachments"])]  # fmt: skip
        assert len(videos) == 1, (one, fake.in_channel(where))
        assert videos[0].get("guild_id") == (str(one.guild_id) if one.guild_id else None)
