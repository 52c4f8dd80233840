"""The final status of a task is posted exactly once, even when cancels race completions and a
read of the ledger comes back stale: a second "Done" or "Cancelled" costs an edit of Slack's
shared chat.update budget and tells the user the same thing twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.domain import TaskState
from bot.errors import ActionRefused
from bot.ledger import TaskQuery, UserLimits
from bot.service import VideoService
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, fake_clock_worker, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.fakes.upstream import ScriptedUpstream, scripted_upstream

TASKS = 320
POLICY = replace(TEST_POLICY, concurrency=64, first_poll=timedelta(seconds=1))


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as running_upstream:
        yield running_upstream


def final_posts(chat: FakeChat) -> Counter[str]:
    """How many times each task's status message was set to a final view."""
    return Counter(view.ref for views in chat.posts.values() for view in views if view.final)


async def test_cancels_racing_completions_post_each_final_status_once(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    chat = FakeChat()
    provider = make_provider(http, upstream.url)
    worker = fake_clock_worker(ledger, provider, chat, clock, tmp_path / "scratch", POLICY, 8)
    service = VideoService(ledger, POLICY, clock.now, worker.wake)
    tasks: list[Task] = []
    for i in range(TASKS):
        task, _ = await service.accept(t2v(f"scene {i}"), target(f"U{i % 40}"), f"evt-{i}")
        tasks.append(task)
    rng = random.Random(11)
    victims = rng.sample(tasks, TASKS // 2)
    cancelled: list[str] = []

    async def cancel_all() -> None:
        for task in victims:
            try:
                await service.cancel(task.ref, task.target)
                cancelled.append(task.ref)
            except ActionRefused:
                pass  # it had ended, or was mid-submit / mid-upload: a user sees the same
            await asyncio.sleep(0)

    async def drive() -> None:
        for _ in range(200):
            await worker.step()
            clock.advance(1)
            if await ledger.next_due_at() is None and len(cancelled) > 0:
                return

    await asyncio.gather(cancel_all(), drive())
    for _ in range(200):
        await worker.step()
        if await ledger.next_due_at() is None:
            break
        clock.advance(1)
    assert cancelled, "no cancel got in: the race was not run"
    posts = final_posts(chat)
    twice = {ref: n for ref, n in posts.items() if n != 1}
    assert not twice, f"{len(twice)} tasks showed their final status more than once: {twice}"
    assert set(posts) == {task.ref for task in tasks}
    assert sum(1 for views in chat.posts.values() if views[-1].state == "cancelled") == len(
        set(cancelled)
    )


class StaleReads:
    """The Ledger port over the real SQLite ledger, except that while `stale` is set, `get`
    answers with the row as it was before its latest write: what concurrent reads on the
    shared connection returned in production (244 stale of 500)."""

    def __init__(self, inner: SqliteLedger) -> None:
        self.inner = inner
        self.stale = True
        self.stale_reads = 0
        self._before: dict[str, Task] = {}

    async def save(self, old: Task, new: Task) -> Task | None:
        saved = await self.inner.save(old, new)
        if saved is not None:
            self._before[old.task_id] = old
        return saved

    async def get(self, ref_or_id: str) -> Task | None:
        current = await self.inner.get(ref_or_id)
        if self.stale and current is not None and current.task_id in self._before:
            self.stale_reads += 1
            return self._before[current.task_id]
        return current

    async def add(self, task: Task, limits: UserLimits | None = None) -> tuple[Task, bool]:
        return await self.inner.add(task, limits)

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        return await self.inner.due(now, limit, exclude)

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Task]:
        return await self.inner.claim(now, limit, lease)

    async def renew(self, task_id: str, held_until: datetime, until: datetime) -> bool:
        return await self.inner.renew(task_id, held_until, until)

    async def release(self, task_id: str, held_until: datetime) -> None:
        await self.inner.release(task_id, held_until)

    async def find(self, query: TaskQuery) -> list[Task]:
        return await self.inner.find(query)

    async def count(
        self, states: frozenset[TaskState], created_before: datetime | None = None
    ) -> int:
        return await self.inner.count(states, created_before)

    async def next_due_at(self, after: datetime | None = None) -> datetime | None:
        return await self.inner.next_due_at(after)


async def test_a_stale_read_after_the_final_status_does_not_post_it_again(
    upstream: ScriptedUpstream,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    stale = StaleReads(ledger)
    chat = FakeChat()
    provider = make_provider(http, upstream.url)
    worker = fake_clock_worker(stale, provider, chat, clock, tmp_path / "scratch", POLICY, 9)
    service = VideoService(ledger, POLICY, clock.now, worker.wake)
    done, _ = await service.accept(t2v("delivered"), target("U1"), "evt-done")
    gone, _ = await service.accept(t2v("cancelled"), target("U2"), "evt-gone")
    await worker.step()  # both submitted
    await service.cancel(gone.ref, target("U2"))
    for _ in range(10):  # every read of an ended row comes back from before it ended
        clock.advance(1)
        await worker.step()
    assert stale.stale_reads > 0
    stale.stale = False
    for _ in range(10):
        clock.advance(1)
        await worker.step()
    assert await ledger.next_due_at() is None
    assert final_posts(chat) == {done.ref: 1, gone.ref: 1}
    assert len(chat.uploads) == 1


async def test_a_stale_live_copy_never_overwrites_a_final_status(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    """A step that started from a stale read (the row before its cancel) would render
    "Queued" or "Rendering" over "Cancelled"; the board refuses once the end is shown."""
    from bot.board import StatusBoard

    chat = FakeChat()
    board = StatusBoard(ledger, {"test": chat}, POLICY, clock.now, ledger.save, random.Random(1))
    service = VideoService(ledger, POLICY, clock.now, lambda: None)
    task, _ = await service.accept(t2v(), target(), "evt")
    shown = await board.show(task)
    assert shown is not None and shown.status_message_id is not None
    cancelled = await service.cancel(task.ref, target())
    assert await board.finish(cancelled)
    assert await board.show(shown) is None  # the copy from before the cancel
    views = chat.posts[shown.status_message_id]
    assert [v.state for v in views] == ["accepted", "cancelled"]
