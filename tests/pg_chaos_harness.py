"""Chaos across processes: four real `videobot demo` processes on one PostgreSQL ledger (one
takes the commands; all four claim and move tasks), the simulator without idempotency, and at
random moments one process SIGKILLed (and restarted) or SIGSTOPped past its lease (then
SIGCONT). Audited from the database, the simulator's counters and the transcripts of every
process: nothing lost, nothing paid for twice, nothing posted twice, and the writes of a worker
that woke up after losing its lease refused. Used by tests/test_pg_chaos.py."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from tests.chaos_harness import SIM_KEY, TERMINAL, _start_simulator

LEASE_S = 2
NAMES = ("intake", "worker1", "worker2", "worker3")


@dataclass
class CrossReport:
    tasks: int
    accepted: int = 0
    delivered: int = 0
    unknown: int = 0
    other_ended: int = 0
    lost: int = 0
    submitted_twice: int = 0
    posted_twice: int = 0
    untold: int = 0
    provider_tasks: int = 0
    kills: int = 0
    pauses: int = 0
    leases_lost: int = 0  # a paused worker's renewal found its task taken over
    stale_writes_fenced: int = 0  # a paused worker's save refused: the new holder's stood
    events: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [(k, v) for k, v in asdict(self).items() if k != "events"]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


class Fleet:
    """The four processes, each restartable; every generation writes its own transcript."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.generation: Counter[str] = Counter()
        self.sent: list[str] = []

    def start(self, name: str) -> None:
        self.generation[name] += 1
        out = (self.workdir / f"{name}-{self.generation[name]:02d}.out").open("w")
        env = {**self.env, "VIDEOBOT_DATA_DIR": str(self.workdir / f"data-{name}")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
            env=env,
        )
        out.close()
        self.procs[name] = proc
        if name == "intake" and self.sent:  # a platform retries what was never acknowledged
            self.send(self.sent, remember=False)

    def send(self, lines: list[str], remember: bool = True) -> None:
        proc = self.procs["intake"]
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write("\n".join(lines) + "\n")
            proc.stdin.flush()
        if remember:
            self.sent += lines

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        self.start(name)

    def busiest(self) -> str:
        """The process whose transcript moved last: the one most likely to hold tasks."""

        def moved(name: str) -> float:
            return (self.workdir / f"{name}-{self.generation[name]:02d}.out").stat().st_mtime

        return max(NAMES, key=moved)

    def pause(self, name: str, seconds: float) -> None:
        self.procs[name].send_signal(signal.SIGSTOP)
        time.sleep(seconds)  # the point of the exercise: a worker frozen past its lease
        self.procs[name].send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()


def _settled(url: str, tasks: int) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE state = ANY(%s) AND next_check_at IS NULL) "
            "FROM tasks",
            (sorted(TERMINAL),),
        ).fetchone()
    return row is not None and row[0] == tasks and row[1] == tasks


def run_cross_chaos(
    workdir: Path, url: str, tasks: int = 24, events: int = 8, seed: int = 3
) -> CrossReport:
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    simulator, sim_url = _start_simulator(workdir)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))},
        "VIDEO_API_URL": sim_url,
        "VIDEO_API_KEY": SIM_KEY,
        "VIDEOBOT_DATABASE_URL": url,
        "VIDEOBOT_LEASE": str(LEASE_S),
        "VIDEOBOT_OUTPUT_DIR": str(workdir / "out"),  # one shared folder: the "channel"
        "VIDEOBOT_LOG_LEVEL": "WARNING",
        "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "1",
    }
    fleet = Fleet(workdir, env)
    report = CrossReport(tasks=tasks)
    lines = [f"@c{i} /video chaos scene {i}" for i in range(tasks)]
    try:
        for name in NAMES:
            fleet.start(name)
        per_event = -(-tasks // events)
        for n in range(events):
            fleet.send(lines[n * per_event : (n + 1) * per_event])
            time.sleep(rng.uniform(0.2, 1.5))  # the event lands wherever the fleet is
            victim = rng.choice(NAMES)
            if n % 2 == 0:
                fleet.kill(victim)
                report.kills += 1
                report.events.append(f"kill {victim}")
            else:
                victim = fleet.busiest()  # freeze a process mid-step, so it loses its lease
                fleet.pause(victim, LEASE_S + rng.uniform(1.0, 2.5))
                report.pauses += 1
                report.events.append(f"stop {victim}")
        deadline = time.monotonic() + 240
        while not _settled(url, tasks) and time.monotonic() < deadline:
            time.sleep(0.5)  # bounded: the audit below says what did not settle
        fleet.stop_all()
        _audit(workdir, url, sim_url, report)
        return report
    finally:
        fleet.stop_all()
        simulator.terminate()
        simulator.wait(timeout=10)
        if simulator.stdout is not None:
            simulator.stdout.close()


def _audit(workdir: Path, url: str, sim_url: str, report: CrossReport) -> None:
    with urllib.request.urlopen(f"{sim_url}/_sim/state", timeout=10) as response:
        sim = json.loads(response.read())
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT ref, idem_key, state FROM tasks").fetchall()
    states = Counter(state for _, _, state in rows)
    keys = {key for _, key, _ in rows}
    transcript = "".join(p.read_text() for p in sorted(workdir.glob("*.out")))
    announced = Counter(re.findall(r"saved: \S*videobot-(\w{6})-", transcript))
    told = set(re.findall(r"^└ (\w{6}) ", transcript, flags=re.MULTILINE))
    ended = [ref for ref, _, state in rows if state in TERMINAL]
    report.accepted = len(rows)
    report.delivered = states["delivered"]
    report.unknown = states["unknown"]
    report.other_ended = sum(states[s] for s in TERMINAL - {"delivered", "unknown"})
    missing = sum(1 for i in range(report.tasks) if f"console:event:c{i}" not in keys)
    report.lost = missing + sum(1 for _, _, state in rows if state not in TERMINAL)
    report.submitted_twice = sum(n - 1 for n in sim["submits_by_prompt"].values() if n > 1)
    report.posted_twice = sum(1 for n in announced.values() if n > 1)
    report.untold = sum(1 for ref in ended if ref not in told)
    report.provider_tasks = sim["tasks_created"]
    report.stale_writes_fenced = transcript.count("its stale write was refused")
    report.leases_lost = transcript.count("took it over after this one's lease lapsed")
