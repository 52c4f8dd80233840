"""Provider callbacks vs polling alone, side by side in the same run: the same workload (a burst
of text-to-video tasks, 60 s renders with +-20 % jitter) through videobot twice, each against
its own simulator. Polling alone is today's predictive schedule; with callbacks the simulator
posts a Standard Webhooks-signed notice the moment each render ends (its `callback_url`
extension), the bot verifies it and polls that task at once, and polls otherwise only as a
safety net (VIDEOBOT_CALLBACK_POLL).

Per task: detection lag (the first status answer that says done minus the moment the render
ended, on the machine's shared monotonic clock) and requests the provider served (submit,
polls, download; the floor is 3). `python -m bench.run --only callbacks`."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters.simulator.signing import WEBHOOK_SECRET
from bench import flight
from bench.common import Row, Sim, pair, run_side, side_main

RENDER_S = 60.0
JITTER = 0.2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def callbacks_side(params: dict[str, Any]) -> dict[str, Any]:
    """videobot with callbacks on, served on a port of their own on loopback."""
    port = _free_port()
    params["settings"] = {
        "callback_url": f"http://127.0.0.1:{port}",
        "callback_port": port,
        "callback_host": "127.0.0.1",
        "callbacks": "standard",  # the simulator's gateway extension signs Standard Webhooks
        "callback_secret": WEBHOOK_SECRET,
    }
    return await flight.videobot_side(params)


def measure(count: int) -> dict[str, dict[str, Any]]:
    limit = RENDER_S * (1 + JITTER) * 3 + 120

    def one(side: str) -> dict[str, Any]:
        sim = Sim.start(jitter=JITTER, render_seconds=RENDER_S, queue_seconds=1.0, seed=7)
        try:
            params = {"sim": sim.url, "count": count, "limit_s": limit, "policy": {}}
            return run_side("bench.callbacks", side, params, timeout=limit + 300)
        finally:
            sim.stop()

    sides = ("callbacks", "polling")
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(sides, pool.map(one, sides), strict=True))


def rows(count: int) -> list[Row]:
    figures = measure(count)
    cb, poll = figures["callbacks"], figures["polling"]
    name = f"callbacks {count} x 60s vs polling"
    p50 = p99 = floor = None
    if cb:
        p50 = cb["lag_p50_s"] < 0.1
        p99 = cb["lag_p99_s"] < 0.5
        floor = cb["requests_per_task"] <= 3.0
    ms = "{:.3f}"
    return [
        pair(name, "lag p50", "lag_p50_s", cb, poll, "s", target="< 0.1 s", met=p50, fmt=ms),
        pair(name, "lag p99", "lag_p99_s", cb, poll, "s", target="< 0.5 s", met=p99, fmt=ms),
        pair(name, "lag max", "lag_max_s", cb, poll, "s", fmt=ms),
        pair(name, "requests/task", "requests_per_task", cb, poll, target="<= 3", met=floor),
        pair(name, "status polls/task", "polls_per_task", cb, poll),
        pair(name, "delivered", "delivered", cb, poll, fmt="{:.0f}"),
    ]


if __name__ == "__main__":
    side_main({"callbacks": callbacks_side, "polling": flight.videobot_side})
