"""Run by tests/storage/test_full_disk.py in a child process: the engine (simulator, HTTP
provider, worker, service, real SQLite file, logging to the real stderr) while the disk fills
up under it (RLIMIT_FSIZE pins every file at its size) and frees again. Prints a JSON summary."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import resource
import signal
import sys
from pathlib import Path

import httpx

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import start_simulator
from bot import logs
from bot.errors import VideobotError
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import SIM_KEY, TEST_POLICY, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock


class Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "could not commit" in record.getMessage()


def disk_full(full: bool) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # 0 would stop even the file the limit is checked against from growing: every write that
    # extends a file (the WAL grows with each commit) now fails as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (0 if full else hard, hard))


async def scenario(folder: Path) -> dict[str, object]:
    logs.setup("INFO", [SIM_KEY])
    failures = Failures()
    logging.getLogger().addHandler(failures)
    clock = FakeClock()
    sim = await start_simulator(
        SimConfig(render_seconds=20, queue_seconds=2, api_key=SIM_KEY, seed=7),
        clock=clock.monotonic,
    )
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http,
        SqliteLedger.open(folder / "ledger.db") as ledger,
    ):
        chat = FakeChat()
        worker = Worker(
            ledger,
            make_provider(http, sim.url),
            {"test": chat},
            TEST_POLICY,
            clock.now,
            scratch_dir=folder / "scratch",
            rng=random.Random(3),
        )
        service = VideoService(ledger, TEST_POLICY, clock.now, worker.wake)
        first, _ = await service.accept(t2v(), target(), "evt-1")
        await worker.step()  # submitted to the simulator
        clock.advance(30)  # the render has finished: the next step records it

        disk_full(True)
        refused = ""
        try:
            await service.accept(t2v("a second video"), target("U2"), "evt-2")
        except VideobotError as err:
            refused = str(err)
        before = failures.count
        stepping = asyncio.create_task(worker.step())
        for _ in range(2000):  # bounded: until the worker's save has failed twice
            if stepping.done() or failures.count >= before + 2:
                break
            await asyncio.sleep(0.01)
        held = not stepping.done()
        disk_full(False)

        await stepping
        for _ in range(100):
            if await ledger.next_due_at() is None:
                break
            clock.advance(1)
            await worker.step()
        done = await ledger.get(first.ref)
        second = await ledger.find(TaskQuery(user_key=target("U2").user_key))
        tasks = await ledger.count_by_state()
        await sim.close()
        return {
            "refused": refused,
            "held_while_full": held,
            "failures": failures.count,
            "state": done.state.value if done else None,
            "uploads": len(chat.uploads),
            "second_recorded": len(second),
            "tasks": tasks,
            "integrity": await ledger.integrity_check(),
        }


if __name__ == "__main__":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    print(json.dumps(asyncio.run(scenario(Path(sys.argv[1])))))
