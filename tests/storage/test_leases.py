"""Claims are leases, on both backends: a claim bumps the version (fencing every later save of
an earlier holder), hides the row from other claimers until the lease lapses, survives the
holder's own saves, and is renewed or released only by its holder. A `submitting` row whose
sender vanished becomes `unknown` once its lease lapses, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.domain import TaskState
from bot.policy import WorkerPolicy
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import T0
from tests.conftest import fake_clock_worker, make_provider
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.storage.test_ledger import fresh

LEASE = timedelta(seconds=60)


async def test_a_claim_bumps_the_version_and_hides_the_row_until_its_lease_lapses(
    ledger: Any,
) -> None:
    task, _ = await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)
    assert claimed.version == task.version + 1 and claimed.next_check_at == task.next_check_at
    assert await ledger.get(task.task_id) == claimed
    assert await ledger.claim(T0 + timedelta(seconds=59), 10, LEASE) == []
    assert await ledger.due(T0 + timedelta(seconds=59), 10, frozenset()) == []
    assert await ledger.save(task, task.cancelled(T0)) is None  # the pre-claim version: fenced


async def test_a_lapsed_lease_is_claimed_again_and_fences_the_old_holder(ledger: Any) -> None:
    await ledger.add(fresh("k1"))
    [first] = await ledger.claim(T0, 10, LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    [second] = await ledger.claim(later, 10, LEASE)  # the first holder paused past its lease
    assert second.version == first.version + 1
    # The first holder wakes up: every write of its is refused, and the new lease stands.
    assert await ledger.save(first, first.submitting(later)) is None
    assert not await ledger.renew(first.task_id, T0 + LEASE, later + LEASE)
    await ledger.release(first.task_id, T0 + LEASE)
    assert await ledger.claim(later, 10, LEASE) == []
    moved = await ledger.save(second, second.submitting(later))
    assert moved is not None and moved.state is TaskState.SUBMITTING


async def test_saves_keep_the_lease_and_release_ends_it(ledger: Any) -> None:
    await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)
    now = T0 + timedelta(seconds=1)
    saved = await ledger.save(claimed, claimed.rescheduled(now, now))  # due now, mid-step
    assert saved is not None
    assert await ledger.claim(now, 10, LEASE) == []  # still held by its step
    await ledger.release(saved.task_id, T0 + LEASE)
    [again] = await ledger.claim(now, 10, LEASE)
    assert again.task_id == saved.task_id and again.version == saved.version + 1


async def test_a_step_that_saved_no_schedule_leaves_its_row_due_at_release(ledger: Any) -> None:
    await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)
    done = T0 + timedelta(seconds=2)
    await ledger.release(claimed.task_id, T0 + LEASE)
    [again] = await ledger.claim(done, 10, LEASE)  # not held back to the lease's end
    assert again.task_id == claimed.task_id


async def test_renewal_moves_the_lease_and_fences_nobody(ledger: Any) -> None:
    await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)
    until = T0 + 2 * LEASE
    assert await ledger.renew(claimed.task_id, T0 + LEASE, until)
    assert await ledger.claim(T0 + LEASE + timedelta(seconds=1), 10, LEASE) == []
    [again] = await ledger.claim(until, 10, LEASE)
    assert again.version == claimed.version + 1  # the renewal itself bumped nothing


async def test_a_submitting_row_becomes_unknown_only_once_its_lease_lapsed(
    ledger: Any, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    task, _ = await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)
    sending = await ledger.save(claimed, claimed.submitting(T0))  # then the sender vanished
    assert sending is not None
    policy = WorkerPolicy(lease=LEASE, intake_quiet=timedelta(0))
    provider = make_provider(None, "http://127.0.0.1:9")  # type: ignore[arg-type]  # unused
    worker = fake_clock_worker(ledger, provider, FakeChat(), clock, tmp_path, policy)
    worker._sole_owner = False  # beside other workers: recovery leaves held rows alone
    assert await worker.recover() == 0
    clock.advance(30)
    assert await worker.step() == 0  # its sender may still be sending
    clock.advance(31)
    assert await worker.step() == 1
    stored = await ledger.get(task.task_id)
    assert stored is not None and stored.state is TaskState.UNKNOWN


async def test_an_idle_worker_wakes_when_a_lease_on_a_due_row_lapses(ledger: Any) -> None:
    await ledger.add(fresh("k1"))
    [claimed] = await ledger.claim(T0, 10, LEASE)  # its holder then froze
    later = await ledger.next_due_at(after=T0)
    if isinstance(ledger, SqliteLedger):
        # One process owns the file: its own steps release and wake it; nothing to wait for.
        assert later is None
    else:
        assert later == T0 + LEASE


class TakenOverBeforeSending:
    """The Provider port over the real HTTP provider, except that just before a submit another
    worker claims the task (this one froze past its lease), as a SIGSTOP would arrange."""

    def __init__(self, inner: Any, ledger: Any, clock: FakeClock) -> None:
        self.inner, self.ledger, self.clock = inner, ledger, clock
        self.taken: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def submit(self, request: Any, task_id: str, **options: Any) -> str:
        self.clock.advance(LEASE.total_seconds() + 1)
        self.taken += await self.ledger.claim(self.clock.now(), 10, LEASE)
        result: str = await self.inner.submit(request, task_id, **options)
        return result


async def test_a_worker_that_lost_its_lease_before_the_post_sends_nothing(
    ledger: Any, tmp_path: Path, sim: Any, http: Any, clock: FakeClock
) -> None:
    task, _ = await ledger.add(replace(fresh("k1"), next_check_at=clock.now()))
    provider = TakenOverBeforeSending(make_provider(http, sim.url), ledger, clock)
    policy = WorkerPolicy(lease=LEASE, intake_quiet=timedelta(0))
    worker = fake_clock_worker(ledger, provider, FakeChat(), clock, tmp_path, policy)  # type: ignore[arg-type]
    assert await worker.step() == 1
    assert sim.simulator.stats.tasks_created == 0  # the frozen worker paid for nothing
    [taken] = provider.taken
    stored = await ledger.get(task.task_id)
    # The new holder's claim stands: the old holder wrote nothing after it.
    assert stored is not None and stored.state is TaskState.SUBMITTING
    assert stored.version == taken.version
