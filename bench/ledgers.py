"""The ledger beyond one process: tasks per second through 1, 2 and 4 worker processes sharing
one PostgreSQL ledger, against a provider whose concurrency is capped (so the limit is the
provider, and the figure shows the workers reach it), and the claim's latency with 100,000 rows
due; the SQLite ledger's figures beside them in the same run (one process: it cannot share).

    .venv/bin/python -m bench.ledgers                    # full sizes
    .venv/bin/python -m bench.ledgers --tasks 60 --due 20000

Needs a PostgreSQL server (VIDEOBOT_TEST_DATABASE_URL, default the local one); each figure runs
on a throwaway database, dropped after."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bot.domain import Mode, ReplyTarget, TaskState, VideoRequest, new_task_id
from bot.policy import WorkerPolicy
from bot.service import VideoService
from bot.task import Task
from storage.codec import COLUMNS, task_to_row
from storage.postgres.ledger import PgLedger
from storage.sqlite.ledger import SqliteLedger
from tests.chaos_harness import SIM_KEY, _start_simulator
from tests.pg import ADMIN_URL, database_url

T0 = datetime(2026, 12, 1, tzinfo=UTC)
CAP = 8  # renders the provider runs at once, for every process together


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"videobot_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@contextlib.asynccontextmanager
async def opened(backend: str, where: str) -> AsyncIterator[Any]:
    if backend == "sqlite":
        async with SqliteLedger.open(Path(where), frozenset({"console"})) as ledger:
            yield ledger
    else:
        async with PgLedger.open(where, frozenset({"console"})) as ledger:
            yield ledger


async def _record(backend: str, where: str, count: int) -> None:
    """`count` console tasks, accepted (through the service: real rows) and due now."""
    async with opened(backend, where) as ledger:
        service = VideoService(ledger, WorkerPolicy(), lambda: datetime.now(UTC), lambda: None)
        who = ReplyTarget("console", "local", "console", "bench", None, "bench")
        for i in range(count):
            request = VideoRequest(f"bench scene {i}", Mode.T2V, aspect_ratio="16:9", duration=6)
            await service.accept(request, who, f"console:bench:{i}")


DELIVERED = "state = 'delivered' AND next_check_at IS NULL"


def _count(backend: str, where: str, condition: str) -> int:
    query = f"SELECT COUNT(*) FROM tasks WHERE {condition}"
    if backend == "sqlite":
        import sqlite3  # noqa: PLC0415

        with contextlib.closing(sqlite3.connect(where)) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(where) as conn:
        row = conn.execute(query.encode()).fetchone()
        return int(row[0]) if row else 0


def throughput(backend: str, processes: int, tasks: int, workdir: Path, sim_url: str) -> float:
    """Tasks per second from start to the last delivered, through `processes` workers."""
    with contextlib.ExitStack() as stack:
        where = (
            str(workdir / f"bench-{uuid.uuid4().hex[:6]}.db")
            if backend == "sqlite"
            else stack.enter_context(throwaway_database())
        )
        asyncio.run(_record(backend, where, tasks))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK"))},
            "VIDEO_API_URL": sim_url,
            "VIDEO_API_KEY": SIM_KEY,
            "VIDEOBOT_PROVIDER_CONCURRENCY": str(CAP),
            "VIDEOBOT_LOG_LEVEL": "WARNING",
            "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "1",
            "VIDEOBOT_OUTPUT_DIR": str(workdir / f"out-{uuid.uuid4().hex[:6]}"),
            **({"VIDEOBOT_DB": where} if backend == "sqlite" else {"VIDEOBOT_DATABASE_URL": where}),
        }
        procs = []
        booted = time.monotonic()
        for n in range(processes):
            log = (workdir / f"{backend}-{processes}-{n}.out").open("w")
            stack.callback(log.close)
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "demo"],
                stdin=subprocess.PIPE,  # kept open: no commands, the ledger has the work
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, "VIDEOBOT_DATA_DIR": str(workdir / f"data-{n}")},
                cwd=workdir,
            )
            procs.append(proc)
        try:
            # The clock starts at the first submit, not at the processes' imports.
            while _count(backend, where, "state != 'accepted'") == 0:
                if time.monotonic() - booted > 120:
                    raise RuntimeError(f"{backend} x{processes}: nothing started in 2 minutes")
                time.sleep(0.05)
            started = time.monotonic()
            while _count(backend, where, DELIVERED) < tasks:
                if time.monotonic() - started > 600:
                    raise RuntimeError(f"{backend} x{processes}: not done in 10 minutes")
                time.sleep(0.2)
            return tasks / (time.monotonic() - started)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
                if proc.stdin is not None:
                    proc.stdin.close()


async def _fill(backend: str, where: str, due: int) -> None:
    """`due` rows due now, written in bulk (the claim is measured, not the insert)."""
    async with opened(backend, where):
        pass  # migrate
    base = _base_task()
    rows = []
    for i in range(due):
        task = replace(
            base,
            task_id=new_task_id(),
            ref=f"B{i:07d}",
            idem_key=f"bench:{i}",
            target=replace(base.target, user_id=f"U{i % 500}"),
            next_check_at=T0 + timedelta(milliseconds=i),
        )
        rows.append(task_to_row(task))
    if backend == "sqlite":
        import sqlite3  # noqa: PLC0415

        with contextlib.closing(sqlite3.connect(where)) as conn:
            marks = ", ".join("?" * len(COLUMNS))
            conn.executemany(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
            conn.commit()
        return
    async with await psycopg.AsyncConnection.connect(where) as conn:
        async with conn.cursor().copy(
            f"COPY tasks ({', '.join(COLUMNS)}) FROM STDIN".encode()
        ) as copy:
            for row in rows:
                await copy.write_row(row)
        await conn.execute(b"ANALYZE tasks")


def _base_task() -> Task:
    request = VideoRequest("bench", Mode.T2V, aspect_ratio="16:9", duration=6)
    who = ReplyTarget("console", "local", "console", "bench", None, "bench")
    return Task(
        task_id="",
        ref="",
        idem_key="",
        request=request,
        target=who,
        state=TaskState.ACCEPTED,
        created_at=T0,
        updated_at=T0,
        deadline_at=T0 + timedelta(hours=1),
        next_check_at=T0,
    )


async def claim_latency(
    backend: str, where: str, due: int, claims: int = 40
) -> tuple[float, float]:
    """p50 and p99 milliseconds of claiming 64 rows with `due` rows due."""
    await _fill(backend, where, due)
    times = []
    async with opened(backend, where) as ledger:
        for n in range(claims):
            at = T0 + timedelta(minutes=1, milliseconds=n)
            start = time.perf_counter()
            claimed = await ledger.claim(at, 64, timedelta(seconds=60))
            times.append((time.perf_counter() - start) * 1000)
            assert len(claimed) == 64
    times.sort()
    return statistics.median(times), times[max(0, round(len(times) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledgers")
    parser.add_argument("--tasks", type=int, default=120, help="tasks per throughput run")
    parser.add_argument("--due", type=int, default=100_000, help="rows due for the claim figure")
    parser.add_argument("--render", type=float, default=2.0, help="simulated render seconds")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="videobot-bench-") as tmp:
        workdir = Path(tmp)
        simulator, sim_url = _start_simulator(workdir, render_seconds=args.render)
        try:
            ceiling = CAP / args.render
            # Unreachable in practice: a slot is also held while the result waits for its poll.
            rows.append(("provider cap / render time (bound)", f"{ceiling:.1f} tasks/s"))
            rate = throughput("sqlite", 1, args.tasks, workdir, sim_url)
            rows.append(("SQLite, 1 process", f"{rate:.2f} tasks/s"))
            for processes in (1, 2, 4):
                rate = throughput("postgres", processes, args.tasks, workdir, sim_url)
                rows.append((f"PostgreSQL, {processes} worker process(es)", f"{rate:.2f} tasks/s"))
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)
        p50, p99 = asyncio.run(claim_latency("sqlite", str(workdir / "claims.db"), args.due))
        rows.append(
            (f"SQLite claim of 64, {args.due:,} due", f"p50 {p50:.1f} ms / p99 {p99:.1f} ms")
        )
        with throwaway_database() as url:
            p50, p99 = asyncio.run(claim_latency("postgres", url, args.due))
        rows.append(
            (f"PostgreSQL claim of 64, {args.due:,} due", f"p50 {p50:.1f} ms / p99 {p99:.1f} ms")
        )
    width = max(len(name) for name, _ in rows)
    print(f"ledgers: {args.tasks} tasks, provider cap {CAP}, renders {args.render:g} s")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
