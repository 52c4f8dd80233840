"""Tasks in flight, end to end: a burst of commands through each side's entry point, every task
followed to a delivered video. Per task: detection lag (the first status answer that says
done, minus the moment the simulator's render ended, on the shared monotonic clock) and status
requests. Per side: CPU (process time, all threads) per task, peak RSS (VmHWM), wall time.

Used twice: predictive polling (60 s renders with jitter, a few hundred tasks) and scale
(10,000 tasks in flight in one process)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench import baseline
from bench.common import (
    SIM_KEY,
    Row,
    Sim,
    pair,
    pct,
    proc_status_kb,
    run_side,
    side_main,
    videobot,
    wait_until,
)


async def _burst(handle: Any, count: int, limit: float) -> tuple[float, int]:
    """All commands at once, in slices of 1,000; gives up after `limit` seconds (a handler
    that submits inline can take minutes). Returns (seconds, commands answered)."""
    started = time.perf_counter()
    answered = 0

    async def slices() -> None:
        nonlocal answered
        for first in range(0, count, 1000):
            last = min(count, first + 1000)
            await asyncio.gather(*(handle(i) for i in range(first, last)))
            answered = last

    try:
        await asyncio.wait_for(slices(), limit)
    except TimeoutError:
        pass
    return time.perf_counter() - started, answered


async def _upstream(sim_url: str, known: dict[str, float]) -> dict[str, Any]:
    return await asyncio.to_thread(_upstream_sync, sim_url, known)


def _upstream_sync(sim_url: str, known: dict[str, float]) -> dict[str, Any]:
    with httpx.Client(timeout=120, trust_env=False) as http:
        state = http.get(f"{sim_url}/_sim/state").json()
        tasks = http.get(f"{sim_url}/_sim/bench/tasks").json()
    created = max(1, int(state["tasks_created"]))
    polls = [float(state["polls_by_task"].get(t, 0)) for t in tasks]
    lags = [known[t] - float(v["finishes_at"]) for t, v in tasks.items() if t in known]
    return {
        "tasks_created": created,
        "requests_per_task": state["requests"] / created,
        "polls_per_task": sum(polls) / created,
        "polls_max": max(polls, default=0.0),
        "lag_p50_s": pct(lags, 0.5),
        "lag_p99_s": pct(lags, 0.99),
        "lag_max_s": max(lags, default=float("nan")),
        "lag_count": len(lags),
        "responses_429": state["responses_429"],
    }


async def videobot_side(params: dict[str, Any]) -> dict[str, Any]:
    count, limit = int(params["count"]), float(params["limit_s"])
    policy = {k: v for k, v in params.get("policy", {}).items()}
    with tempfile.TemporaryDirectory(prefix="vb-bench-") as tmp:
        async with videobot(params["sim"], Path(tmp), params.get("settings"), **policy) as stack:
            cpu = time.process_time()

            async def handle(i: int) -> None:
                await stack.session.handle(f"@t{i} /video bench scene {i % 4}")

            burst, answered = await _burst(handle, count, limit)
            wall = time.perf_counter() - burst
            left = max(1.0, limit - burst)
            done = await wait_until(lambda: stack.session.started <= stack.chat.finished, left)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            finished = len(stack.chat.finished)
            states = await stack.engine.ledger.count_by_state()
            known = dict(stack.known)
            delivered = len(list((Path(tmp) / "out").glob("*.mp4")))
    figures = await _upstream(params["sim"], known)
    figures.update(
        cpu_ms_per_task=cpu * 1000 / count,
        peak_rss_mb=proc_status_kb("VmHWM") / 1024,
        wall_s=wall,
        burst_s=burst,
        answered=answered,
        finished=finished,
        delivered=delivered,
        all_done=done,
        states=states,
    )
    return figures


def _watchdog(after: float, figures: Any) -> threading.Timer:
    """When the event loop is too starved to notice its own deadline (10,000 inline submits
    queued in one httpx pool), report what is known from a thread and end the process."""

    def fire() -> None:
        try:
            print("RESULT " + json.dumps(figures()), flush=True)
        finally:
            os._exit(0)

    timer = threading.Timer(after, fire)
    timer.daemon = True
    timer.start()
    return timer


async def baseline_side(params: dict[str, Any]) -> dict[str, Any]:
    count, limit = int(params["count"]), float(params["limit_s"])
    with tempfile.TemporaryDirectory(prefix="base-bench-") as tmp:
        async with baseline.client() as http:
            bot = baseline.TypicalBot(
                http, params["sim"], SIM_KEY, baseline.file_upload(Path(tmp) / "out")
            )
            cpu = time.process_time()
            started = time.perf_counter()

            def partial() -> dict[str, Any]:
                figures = _upstream_sync(params["sim"], dict(bot.known))
                figures.update(
                    cpu_ms_per_task=(time.process_time() - cpu) * 1000 / count,
                    peak_rss_mb=proc_status_kb("VmHWM") / 1024,
                    wall_s=time.perf_counter() - started,
                    burst_s=float("nan"),
                    answered=len(bot.known) + len(bot.followers),
                    finished=len(bot.finished),
                    delivered=len(list((Path(tmp) / "out").glob("*.mp4"))),
                    all_done=False,
                    stopped_by="watchdog",
                )
                return figures

            watchdog = _watchdog(limit + 30, partial)

            async def handle(i: int) -> None:
                await bot.handle(f"/video bench scene {i % 4}")

            burst, answered = await _burst(handle, count, limit)
            wall = time.perf_counter() - burst
            done = await bot.drain(max(1.0, limit - burst))
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            watchdog.cancel()
            for follower in list(bot.followers):
                follower.cancel()
            known = dict(bot.known)
            delivered = len(list((Path(tmp) / "out").glob("*.mp4")))
    figures = await _upstream(params["sim"], known)
    figures.update(
        cpu_ms_per_task=cpu * 1000 / count,
        peak_rss_mb=proc_status_kb("VmHWM") / 1024,
        wall_s=wall,
        burst_s=burst,
        answered=answered,
        finished=len(bot.finished),
        delivered=delivered,
        all_done=done,
    )
    return figures


def measure(
    count: int,
    render: float,
    jitter: float,
    parallel: bool,
    policy: dict[str, Any] | None = None,
    limit: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Both sides on the same workload, each against its own simulator; each side stops by
    itself `limit` seconds after its burst began, finished or not."""
    limit = limit or render * (1 + jitter) * 3 + 120

    def one(side: str) -> dict[str, Any]:
        sim = Sim.start(jitter=jitter, render_seconds=render, queue_seconds=1.0, seed=7)
        try:
            params = {"sim": sim.url, "count": count, "limit_s": limit, "policy": policy or {}}
            return run_side("bench.flight", side, params, timeout=limit + 300)
        finally:
            sim.stop()

    sides = ("videobot", "baseline")
    if parallel:
        with ThreadPoolExecutor(2) as pool:
            return dict(zip(sides, pool.map(one, sides), strict=True))
    return {side: one(side) for side in sides}


def polling_rows(count: int) -> list[Row]:
    figures = measure(count, render=60.0, jitter=0.2, parallel=True)
    vb, base = figures["videobot"], figures["baseline"]
    name = f"polling {count} x 60s (+-20%)"
    lag_met = polls_met = None
    if vb and base:
        lag_met = vb["lag_p50_s"] < 1.5 and vb["lag_p50_s"] < base["lag_p50_s"]
        polls_met = vb["polls_per_task"] <= 5 and vb["polls_per_task"] < base["polls_per_task"]
    return [
        pair(name, "lag p50", "lag_p50_s", vb, base, "s", target="< 1.5 s, < base", met=lag_met),
        pair(name, "lag p99", "lag_p99_s", vb, base, "s"),
        pair(name, "status polls/task", "polls_per_task", vb, base, target="<= 5, < base",
             met=polls_met),
        pair(name, "status polls max", "polls_max", vb, base, fmt="{:.0f}"),
        pair(name, "delivered", "delivered", vb, base, fmt="{:.0f}"),
    ]


def scale_rows(count: int, render: float) -> list[Row]:
    limit = render * 1.2 + 300
    figures = measure(count, render=render, jitter=0.2, parallel=False, limit=limit)
    vb, base = figures["videobot"], figures["baseline"]
    name = f"scale {count} in flight, {render:g}s"
    rss_met = vb["peak_rss_mb"] < 250 if vb else None
    whole = "{:.0f}"
    return [
        pair(name, "CPU per task", "cpu_ms_per_task", vb, base, "ms"),
        pair(name, "peak RSS", "peak_rss_mb", vb, base, "MB", whole, "< 250 MB", rss_met),
        pair(name, "requests/task", "requests_per_task", vb, base),
        pair(name, "lag p50", "lag_p50_s", vb, base, "s"),
        pair(name, "lag p99", "lag_p99_s", vb, base, "s"),
        pair(name, "lag max (starvation)", "lag_max_s", vb, base, "s"),
        pair(name, "burst (all acked)", "burst_s", vb, base, "s", "{:.1f}"),
        pair(name, "commands acked", "answered", vb, base, fmt=whole),
        pair(name, "tasks seen done", "lag_count", vb, base, fmt=whole),
        pair(name, "wall, burst to last delivery", "wall_s", vb, base, "s", whole),
        pair(name, "delivered", "delivered", vb, base, fmt=whole),
    ]


if __name__ == "__main__":
    side_main({"videobot": videobot_side, "baseline": baseline_side})
