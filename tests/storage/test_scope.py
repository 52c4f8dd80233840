"""A ledger opened for some platforms claims and searches only their tasks: the demo never
submits a Slack task it cannot post, and `run` for Slack leaves Discord's tasks alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import Mode, ReplyTarget, VideoRequest
from bot.ledger import TaskQuery
from bot.policy import WorkerPolicy
from bot.service import VideoService
from tests.ledgers import Opener

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_a_scoped_ledger_sees_only_its_platforms(open_ledger: Opener) -> None:
    request = VideoRequest("a kite", Mode.T2V, aspect_ratio="16:9", duration=6)
    async with open_ledger(None) as ledger:
        service = VideoService(ledger, WorkerPolicy(), lambda: NOW, lambda: None)
        for platform in ("slack", "discord", "console"):
            who = ReplyTarget(platform, "W1", "C1", "U1", None, "ann")
            await service.accept(request, who, f"{platform}:1")
        later = ReplyTarget("slack", "W1", "C1", "U2", None, "bob")
        slack_later, _ = await service.accept(request, later, "slack:2")
        moved = await ledger.save(
            slack_later, slack_later.rescheduled(NOW, NOW + timedelta(minutes=5))
        )
        assert moved is not None
        assert len(await ledger.due(NOW, 10, frozenset())) == 3  # unscoped: every platform
    async with open_ledger(frozenset({"console"})) as console:
        due = await console.due(NOW, 10, frozenset())
        assert [t.target.platform for t in due] == ["console"]
        found = await console.find(TaskQuery(limit=10))
        assert [t.target.platform for t in found] == ["console"]
        assert await console.next_due_at(after=NOW) is None  # Slack's later row is not ours
    async with open_ledger(frozenset({"slack", "discord"})) as bots:
        due = await bots.due(NOW, 10, frozenset())
        assert sorted(t.target.platform for t in due) == ["discord", "slack"]
        assert await bots.next_due_at(after=NOW) == NOW + timedelta(minutes=5)
