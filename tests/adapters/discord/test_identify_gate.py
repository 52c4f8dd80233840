"""The identify gate: Discord starts one session per 5 seconds in each identify bucket across
every process of the bot. Two gates on one folder stand for two processes (each opens the
bucket's file itself, so their flocks exclude each other as two processes' do); time is a
FakeClock that the gate's waits move."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.discord.identify import FileIdentifyGate, bucket_of
from tests.fakes.clock import FakeClock


class Waits:
    """The gate's sleep: records each wait and moves the clock by it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(round(seconds, 3))
        self.clock.advance(seconds)
        await asyncio.sleep(0)


def gate(folder: Path, clock: FakeClock, waits: Waits) -> FileIdentifyGate:
    return FileIdentifyGate(folder, clock=lambda: clock.now().timestamp(), sleep=waits)


def test_buckets_are_the_shard_id_modulo_max_concurrency() -> None:
    assert [bucket_of(s, 2) for s in range(4)] == [0, 1, 0, 1]
    assert [bucket_of(s, 1) for s in range(3)] == [0, 0, 0]
    assert bucket_of(7, 16) == 7


async def test_a_second_process_waits_out_the_spacing_in_the_same_bucket_only(
    tmp_path: Path, clock: FakeClock
) -> None:
    waits = Waits(clock)
    first, second = gate(tmp_path, clock, waits), gate(tmp_path, clock, waits)
    await first.admit(0)
    await second.admit(1)  # another bucket: no wait
    assert waits.seconds == []
    clock.advance(2)
    await second.admit(0)  # 2 s after the first in bucket 0: the rest of 5.5 s
    assert waits.seconds == [3.5]
    await first.admit(0)
    assert waits.seconds == [3.5, 5.5]
    clock.advance(60)
    await second.admit(0)  # long after: at once
    assert waits.seconds == [3.5, 5.5]


async def test_two_processes_asking_at_once_are_spaced(tmp_path: Path, clock: FakeClock) -> None:
    waits = Waits(clock)
    started: list[float] = []

    async def identify(g: FileIdentifyGate) -> None:
        await g.admit(0)
        started.append(clock.now().timestamp())

    await asyncio.gather(*(identify(gate(tmp_path, clock, waits)) for _ in range(3)))
    gaps = [later - earlier for earlier, later in zip(started, started[1:], strict=False)]
    assert gaps == [pytest.approx(5.5), pytest.approx(5.5)]


async def test_a_cancelled_wait_records_nothing_and_holds_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async def never(_: float) -> None:
        await asyncio.Event().wait()

    await gate(tmp_path, clock, Waits(clock)).admit(0)
    waiting = asyncio.create_task(
        FileIdentifyGate(tmp_path, clock=lambda: clock.now().timestamp(), sleep=never).admit(0)
    )
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    clock.advance(10)
    waits = Waits(clock)
    async with asyncio.timeout(1):  # the lock was let go: the next one is admitted at once
        await gate(tmp_path, clock, waits).admit(0)
    assert waits.seconds == []


async def test_a_damaged_bucket_file_counts_as_no_identify(
    tmp_path: Path, clock: FakeClock
) -> None:
    (tmp_path / "bucket-0").write_text("garbage")
    waits = Waits(clock)
    await gate(tmp_path, clock, waits).admit(0)
    assert waits.seconds == []
    assert float((tmp_path / "bucket-0").read_text()) == clock.now().timestamp()
