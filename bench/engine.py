"""1,000 tasks through service + worker + HTTP provider against the simulator (in its own
process, over loopback): accept latency, provider requests per task, detection lag, peak RSS.
Superseded by bench/flight.py and bench/accept.py (what `make bench` runs); kept runnable:
`python -m bench.engine`."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from adapters.dialects import DIALECTS
from adapters.fetch import FetchPolicy, SafeFetcher
from adapters.provider import HttpProvider
from bot.domain import ReplyTarget, TaskState
from bot.messages import StatusView
from bot.policy import WorkerPolicy
from bot.ports import Checkpoint, Delivery, TaskQuery
from bot.service import VideoService
from bot.worker import Worker
from storage.ledger import SqliteLedger

SIM_KEY = "bench-key"


class NullChat:
    """Accepts every post instantly: the benchmark measures the engine, not a chat API."""

    def __init__(self, expected: int) -> None:
        self.uploads = 0
        self.edits = 0
        self.finished = 0
        self.expected = expected
        self.all_done = asyncio.Event()

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        return key

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        self.edits += 1
        if view.final:
            self.finished += 1
            if self.finished >= self.expected:
                self.all_done.set()

    async def upload_video(
        self, target: ReplyTarget, status: str | None, delivery: Delivery, checkpoint: Checkpoint
    ) -> str:
        self.uploads += 1
        return delivery.key

    async def post_link(self, target: ReplyTarget, status: str | None, text: str, key: str) -> str:
        return key


@dataclass
class Simulator:
    process: subprocess.Popen[str]
    url: str

    @classmethod
    def start(cls, *args: str) -> Simulator:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "simulate",
                "--port",
                "0",
                "--api-key",
                SIM_KEY,
                "--video-height",
                "144",
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        if not match:
            process.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        return cls(process, match.group(0))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(tasks: int = 1000, render: float = 20.0, queue: float = 1.0) -> dict[str, float]:
    sim = Simulator.start("--render-seconds", str(render), "--queue-seconds", str(queue))
    try:
        return await _run(sim, tasks, render + queue)
    finally:
        sim.stop()


async def _run(sim: Simulator, count: int, render_total: float) -> dict[str, float]:
    from tests.conftest import t2v  # the same request shape the tests use

    policy = WorkerPolicy(concurrency=64, first_poll=timedelta(seconds=5))
    chat = NullChat(count)
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            SqliteLedger.open(Path(tmp) / "bench.db") as ledger,
            httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http,
            SafeFetcher(FetchPolicy(allow_loopback=True)) as fetcher,
        ):
            provider = HttpProvider(
                http,
                DIALECTS["guide"],
                base_url=sim.url,
                api_key=SIM_KEY,
                model="gemini_omni_flash",
                fetcher=fetcher,
            )
            now = lambda: datetime.now(UTC)  # noqa: E731
            worker = Worker(ledger, provider, {"bench": chat}, policy, now, scratch_dir=Path(tmp))
            service = VideoService(ledger, policy, now, worker.wake)
            stop = asyncio.Event()
            runner = asyncio.create_task(worker.run(stop))

            async def accept(i: int) -> float:
                target = ReplyTarget("bench", "T", "C", f"U{i % 50}", None, "")
                started = time.perf_counter()
                await service.accept(t2v(f"bench scene {i % 4}"), target, f"bench-{i}")
                return time.perf_counter() - started

            wall = time.perf_counter()
            latencies = await asyncio.gather(*(accept(i) for i in range(count)))
            await chat.all_done.wait()
            elapsed = time.perf_counter() - wall
            stop.set()
            await runner
            done = await ledger.find(TaskQuery(limit=count + 10))
            state = (await http.get(f"{sim.url}/_sim/state")).json()
    lags = [
        ((t.finished_at - t.submitted_at).total_seconds() - render_total)
        for t in done
        if t.finished_at and t.submitted_at
    ]
    delivered = sum(1 for t in done if t.state is TaskState.DELIVERED)
    return {
        "tasks": count,
        "delivered": delivered,
        "wall_s": elapsed,
        "accept_p50_ms": pct(latencies, 0.5) * 1000,
        "accept_p99_ms": pct(latencies, 0.99) * 1000,
        "provider_requests_per_task": state["requests"] / count,
        "polls_per_task": sum(state["polls_by_task"].values()) / count,
        "tasks_created": state["tasks_created"],
        "lag_p50_s": pct(lags, 0.5),
        "lag_p99_s": pct(lags, 0.99),
        "lag_mean_s": statistics.fmean(lags) if lags else float("nan"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cores": os.cpu_count() or 0,
    }


def main() -> None:
    tasks = int(os.environ.get("BENCH_TASKS", "1000"))
    figures = asyncio.run(run(tasks))
    print(f"engine: {tasks} tasks through service + worker + provider + simulator (subprocess)")
    for key, value in figures.items():
        print(
            f"  {key:<28} {value:10.2f}" if isinstance(value, float) else f"  {key:<28} {value:>10}"
        )


if __name__ == "__main__":
    main()
