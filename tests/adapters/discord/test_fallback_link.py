"""A video too large to upload is shared as the provider's link. When that link is signed (S3 or
GCS style), the link posted must be the working one: the stored copy has its credentials cut."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import httpx
import pytest

from adapters.simulator import server
from bot.domain import TaskState
from tests.fakes import discord_payloads as p
from tests.fakes.discord_harness import DiscordBot, answered

SIGNED = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261202%2Fs3"
    "&X-Amz-Expires=86400&X-Amz-Signature=0123456789abcdef"
)


async def test_an_oversized_video_is_shared_by_its_working_signed_link(
    bot: DiscordBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = server.task_view  # the simulator hands out presigned-looking result links
    monkeypatch.setattr(
        server, "task_view", lambda t, d, n, url, ttl, c: view(t, d, n, url + SIGNED, ttl, c)
    )
    await answered(bot, p.slash("video", [p.option("prompt", "a plain fox")], size_limit=100_000))
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.UNDELIVERABLE
    assert task.result_url is not None and "0123456789abcdef" not in task.result_url  # stored cut
    posted = " ".join(m.get("content") or "" for m in bot.fake.in_channel(task.status_message_id))
    assert "[redacted]" not in posted and SIGNED in posted
    link = posted[posted.index("http") :].split()[0]
    async with httpx.AsyncClient() as client:  # and the link the user got downloads the video
        assert (await client.get(link)).status_code == 200
