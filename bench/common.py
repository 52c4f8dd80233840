"""What every benchmark shares: the simulator subprocess, one subprocess per measured side
(so peak RSS and CPU belong to that side alone), videobot wired by its own composition root,
and the row/table format `make bench` prints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

SIM_KEY = "bench-key"
ROOT = Path(__file__).resolve().parent.parent


# -- measuring -------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def proc_status_kb(name: str) -> int:
    """A field of /proc/self/status in kB (VmRSS now, VmHWM = peak resident so far)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


class NullOut:
    """A TextIO sink for console output (the bench measures the engine, not a terminal)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


# -- the simulator ---------------------------------------------------------------------------
@dataclass
class Sim:
    process: subprocess.Popen[str]
    url: str
    slack_url: str

    @classmethod
    def start(cls, jitter: float = 0.0, big_bytes: int = 0, **knobs: Any) -> Sim:
        config = {"api_key": SIM_KEY, "video_height": 144, **knobs}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.simserver",
                json.dumps(config),
                "--jitter",
                str(jitter),
                "--big-bytes",
                str(big_bytes),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.findall(r"http://[\d.]+:\d+", line)
        if len(found) != 2:
            process.kill()
            raise RuntimeError(f"bench simulator did not start: {line!r}")
        return cls(process, found[0], found[1])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    async def state(self, http: httpx.AsyncClient) -> dict[str, Any]:
        return dict((await http.get(f"{self.url}/_sim/state", timeout=60)).json())

    async def finishes(self, http: httpx.AsyncClient) -> dict[str, float]:
        body = (await http.get(f"{self.url}/_sim/bench/tasks", timeout=60)).json()
        return {task_id: float(t["finishes_at"]) for task_id, t in body.items()}

    async def configure(self, http: httpx.AsyncClient, **knobs: Any) -> None:
        (await http.post(f"{self.url}/_sim/config", json=knobs)).raise_for_status()


# -- sides in subprocesses -------------------------------------------------------------------
Side = Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]


def side_main(sides: dict[str, Side]) -> None:
    """`python -m bench.<module> <side> '<json params>'`: run one side, print its figures."""
    name, params = sys.argv[1], json.loads(sys.argv[2])
    figures = asyncio.run(sides[name](params))
    print("RESULT " + json.dumps(figures), flush=True)


def run_side(module: str, side: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one side in a fresh interpreter and return its figures (`{}` if it failed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", module, side, json.dumps(params)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"  ! {module} {side}: gave up after {timeout:.0f}s", file=sys.stderr)
        return {}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    tail = "\n".join(done.stderr.splitlines()[-15:])
    print(f"  ! {module} {side} failed (exit {done.returncode}):\n{tail}", file=sys.stderr)
    return {}


# -- videobot, wired the way `videobot demo` wires it ----------------------------------------
@dataclass
class Stack:
    engine: Any  # bot.engine.Engine
    session: Any  # adapters.console.session.ConsoleSession
    chat: Any  # adapters.console.session.ConsoleChat
    settings: Any
    known: dict[str, float] = field(default_factory=dict)  # provider task -> when we knew


@contextlib.asynccontextmanager
async def videobot(
    sim_url: str, data_dir: Path, settings: dict[str, Any] | None = None, **policy: Any
) -> AsyncIterator[Stack]:
    """Ledger + HttpProvider + Worker + VideoService from `open_engine` (the production
    composition root), the console adapter on top, the worker running. Policy fields given
    override the production defaults, as `settings` given override settings. `known` records
    when a status poll first saw a task done (bench instrumentation on the provider instance;
    nothing else is changed)."""
    from adapters.console.session import PLATFORM, ConsoleChat, ConsoleSession
    from adapters.media.intake import MediaIntake
    from adapters.simulator.server import IDEMPOTENCY_HEADER
    from bot.config import Settings
    from bot.engine import open_engine
    from bot.ports import ProviderState

    config = Settings(
        _env_file=None,
        **(settings or {}),
        video_api_url=sim_url,
        video_api_key=SecretStr(SIM_KEY),
        idempotency_header=IDEMPOTENCY_HEADER,
        data_dir=data_dir,
        output_dir=data_dir / "out",
        fetch_allow_loopback=True,  # the simulator is http on 127.0.0.1
    )
    worker_policy = replace(config.worker_policy(), **policy)
    async with open_engine(config, worker_policy) as engine:
        chat = ConsoleChat(NullOut(), config.output_dir)  # type: ignore[arg-type]
        engine.chats[PLATFORM] = chat
        intake = MediaIntake(config.media_dir, config.profile())
        out = NullOut()
        session = ConsoleSession(engine.service, intake, chat, config.profile(), out)  # type: ignore[arg-type]
        stack = Stack(engine, session, chat, config)
        fetch = engine.provider.fetch

        async def observed_fetch(provider_task_id: str) -> Any:
            status = await fetch(provider_task_id)
            if status.state is ProviderState.SUCCEEDED:
                stack.known.setdefault(provider_task_id, time.monotonic())
            return status

        engine.provider.fetch = observed_fetch  # type: ignore[method-assign]
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.worker.run(stop))
        try:
            yield stack
        finally:
            stop.set()
            await runner


async def wait_until(done: Callable[[], bool], limit: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


# -- the table -------------------------------------------------------------------------------
@dataclass
class Row:
    bench: str
    metric: str
    videobot: float | None
    baseline: float | None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    fmt: str = "{:.1f}"


def pair(
    bench: str,
    metric: str,
    key: str,
    vb: dict[str, Any],
    base: dict[str, Any],
    unit: str = "",
    fmt: str = "{:.2f}",
    target: str = "",
    met: bool | None = None,
) -> Row:
    """One row from the two sides' figures under `key` (a side that failed has none); two
    decimals unless `fmt` says otherwise."""
    return Row(bench, metric, vb.get(key), base.get(key), unit, target, met, fmt)


def _cell(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def ratio(videobot: float | None, base: float | None) -> str:
    """baseline / videobot: above 1 means videobot's figure is that many times lower."""
    if videobot is None or base is None or math.isnan(videobot) or math.isnan(base):
        return "-"
    if videobot == 0:
        return "inf" if base > 0 else "-"
    r = base / videobot
    return f"{r:.0f}x" if r >= 100 else f"{r:.2f}x"


def table(rows: list[Row]) -> str:
    head = ("benchmark", "metric", "videobot", "baseline", "base/vb", "target", "met")
    body = [
        (
            r.bench,
            f"{r.metric} ({r.unit})" if r.unit else r.metric,
            _cell(r.videobot, r.fmt),
            _cell(r.baseline, r.fmt),
            ratio(r.videobot, r.baseline),
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(b) for b in body)])


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average at start {load[0]:.2f}"
    )
