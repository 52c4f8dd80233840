"""Crash anywhere, lose nothing, pay once, post once: the real `videobot` process (console
adapter) against the simulator in its own process, SIGKILLed at random moments and restarted
on the same ledger, then audited from the ledger file, the simulator's counters and the chat
transcript. Some kills are aimed at the submit window (the provider has created the task, its
answer is not back yet): each task caught there must end `unknown`, never be sent again.
Used by tests/test_chaos.py (default size) and bench/chaos.py (--kills/--tasks)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from adapters.simulator.signing import WEBHOOK_SECRET

SIM_KEY = "chaos-key"
TERMINAL = {"delivered", "undeliverable", "failed", "rejected", "unknown", "cancelled", "timed_out"}


@dataclass
class ChaosReport:
    tasks: int
    kills: int
    accepted: int
    delivered: int
    reported_unknown: int
    other_ended: int
    lost: int
    submitted_twice: int
    posted_twice: int
    untold: int
    provider_tasks: int
    integrity: str
    graceful_stops: int = 0
    graceful_failures: int = 0
    aimed_kills: int = 0
    killed_mid_submit: int = 0
    callbacks_sent: int = 0  # provider callbacks the bot answered 2xx (callbacks on)
    callbacks_failed: int = 0  # given up after every try (the bot was down): polls caught them

    def table(self) -> str:
        rows = [(name, value) for name, value in asdict(self).items()]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def _start_simulator(
    workdir: Path, render_seconds: float = 1.0
) -> tuple[subprocess.Popen[str], str]:
    with (workdir / "sim.err").open("w") as errors:
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
                "--render-seconds",
                str(render_seconds),
                "--queue-seconds",
                "0.2",
                "--submit-latency",
                "0.15",
                "--video-height",
                "96",
                "--no-idempotency",
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=workdir,
        )
    assert process.stdout is not None
    match = re.search(r"http://[\d.]+:\d+", process.stdout.readline())
    if match is None:
        process.kill()
        raise RuntimeError("the simulator did not start")
    return process, match.group(0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _callbacks_on(url: str) -> dict[str, str]:
    """The simulator calls back (signed, at least once, some twice, out of order) to a port
    every restart of the bot serves again; its safety-net polls are kept short here."""
    knobs = {"callback_duplicates": 0.3, "callback_jitter": 0.3}
    request = urllib.request.Request(
        f"{url}/_sim/config",
        data=json.dumps(knobs).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
    port = _free_port()
    return {
        "VIDEOBOT_CALLBACK_URL": f"http://127.0.0.1:{port}",
        "VIDEOBOT_CALLBACK_PORT": str(port),
        "VIDEOBOT_CALLBACK_HOST": "127.0.0.1",
        "VIDEOBOT_CALLBACKS": "standard",
        "VIDEOBOT_CALLBACK_SECRET": WEBHOOK_SECRET,
        "VIDEOBOT_CALLBACK_POLL": "3",
    }


def run_chaos(
    workdir: Path, tasks: int = 50, kills: int = 20, seed: int = 1, callbacks: bool = False
) -> ChaosReport:
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    simulator, url = _start_simulator(workdir)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))},
        "VIDEO_API_URL": url,
        "VIDEO_API_KEY": SIM_KEY,
        "VIDEOBOT_DB": str(workdir / "ledger.db"),
        "VIDEOBOT_DATA_DIR": str(workdir / "data"),
        "VIDEOBOT_OUTPUT_DIR": str(workdir / "out"),
        "VIDEOBOT_LOG_LEVEL": "WARNING",
        "VIDEOBOT_FETCH_ALLOW_LOOPBACK": "1",  # the simulator serves results from loopback
    }
    if callbacks:
        env.update(_callbacks_on(url))
    lines = [f"@c{i} /video chaos scene {i}" for i in range(tasks)]
    per_run = -(-tasks // (kills + 1))
    terms: list[int] = []
    aimed = 0
    mid_submit: set[str] = set()
    try:
        for run in range(kills + 1):
            sent = lines[: min(tasks, (run + 1) * per_run)]
            final = run == kills
            with (workdir / f"run{run:03d}.out").open("w") as out:
                bot = subprocess.Popen(
                    [sys.executable, "-m", "bot", "demo"],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=workdir,
                    env=env,
                )
                assert bot.stdin is not None
                # Every start replays all commands so far: the ones the dead process never
                # acknowledged arrive again, as a platform's retry would (same event id).
                bot.stdin.write("\n".join(sent) + "\n")
                bot.stdin.flush()
                try:
                    if final:
                        bot.stdin.close()
                        bot.wait(timeout=300)
                    elif run % 4 == 3:
                        # A graceful stop (SIGTERM, as `docker stop` sends): in-flight writes
                        # finish, the process exits 0 by itself, live tasks resume next start.
                        _wait_until_serving(workdir / f"run{run:03d}.out")
                        time.sleep(rng.uniform(0.0, 1.2))
                        bot.terminate()
                        terms.append(bot.wait(timeout=60))
                    elif run % 4 == 1:
                        aimed += _kill_mid_submit(bot, url)
                    else:
                        time.sleep(rng.uniform(0.05, 1.6))  # the kill lands wherever it lands
                        bot.kill()
                        bot.wait(timeout=30)
                finally:
                    with contextlib.suppress(BrokenPipeError):
                        bot.stdin.close()
            # The process is gone: a row it left `submitting` may have been billed, so it must
            # end `unknown` (never a second POST). Counted here, checked by the audit.
            mid_submit |= _refs_in_state(workdir / "ledger.db", "submitting")
        report = _audit(workdir, url, tasks, kills)
        report.graceful_stops = len(terms)
        report.graceful_failures = sum(1 for code in terms if code != 0)
        report.aimed_kills = aimed
        report.killed_mid_submit = len(mid_submit)
        return report
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        if simulator.stdout is not None:
            simulator.stdout.close()


def _sim_created(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_sim/state", timeout=10) as response:
        return int(json.loads(response.read())["tasks_created"])


def _kill_mid_submit(bot: subprocess.Popen[str], url: str, limit: float = 15.0) -> int:
    """SIGKILL the bot the moment the provider creates a task: its answer is still on the way
    (the simulator's submit latency), so the bot is inside the submit window. 1 if aimed so."""
    before = _sim_created(url)
    deadline = time.monotonic() + limit
    hit = False
    while time.monotonic() < deadline and bot.poll() is None:
        if _sim_created(url) > before:
            hit = True
            break
        time.sleep(0.002)
    bot.kill()
    bot.wait(timeout=30)
    return int(hit)


def _refs_in_state(ledger: Path, state: str) -> set[str]:
    if not ledger.exists():
        return set()
    conn = sqlite3.connect(ledger)
    try:
        rows = conn.execute("SELECT ref FROM tasks WHERE state = ?", (state,))
        return {ref for (ref,) in rows}
    except sqlite3.OperationalError:
        return set()  # killed after the file was made, before its first migration committed
    finally:
        conn.close()


def _wait_until_serving(transcript: Path, limit: float = 30.0) -> None:
    """A graceful stop targets a running bot (one that has answered), not one still importing."""
    deadline = time.monotonic() + limit
    while transcript.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.02)


def _audit(workdir: Path, url: str, tasks: int, kills: int) -> ChaosReport:
    with urllib.request.urlopen(f"{url}/_sim/state", timeout=10) as response:
        sim = json.loads(response.read())
    conn = sqlite3.connect(workdir / "ledger.db")
    rows = conn.execute("SELECT ref, idem_key, state FROM tasks").fetchall()
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    states = Counter(state for _, _, state in rows)
    keys = {key for _, key, _ in rows}
    missing = sum(1 for i in range(tasks) if f"console:event:c{i}" not in keys)
    transcript = "".join(p.read_text() for p in sorted(workdir.glob("run*.out")))
    announced = Counter(re.findall(r"saved: \S*videobot-(\w{6})-", transcript))
    files = Counter(p.name.split("-")[1] for p in (workdir / "out").glob("*.mp4"))
    told = set(re.findall(r"^└ (\w{6}) ", transcript, flags=re.MULTILINE))
    ended = [ref for ref, _, state in rows if state in TERMINAL]
    return ChaosReport(
        callbacks_sent=sim["callbacks_sent"],
        callbacks_failed=sim["callbacks_failed"],
        tasks=tasks,
        kills=kills,
        accepted=len(rows),
        delivered=states["delivered"],
        reported_unknown=states["unknown"],
        other_ended=sum(states[s] for s in TERMINAL - {"delivered", "unknown"}),
        lost=missing + sum(1 for _, _, state in rows if state not in TERMINAL),
        submitted_twice=sum(n - 1 for n in sim["submits_by_prompt"].values() if n > 1),
        posted_twice=sum(1 for n in announced.values() if n > 1)
        + sum(1 for n in files.values() if n > 1),
        untold=sum(1 for ref in ended if ref not in told),
        provider_tasks=sim["tasks_created"],
        integrity=integrity,
    )
