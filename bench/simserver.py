"""The benchmarks' upstream: adapters/simulator/ as it stands, plus three bench-only knobs the
simulator lacks today (kept here so adapters/ stays untouched):

- render jitter: each task renders `render_seconds * uniform(1 - j, 1 + j)` (seeded), so a
  poller cannot be right just by knowing the mean;
- big videos: a prompt containing `[big]` is answered with a streamed `--big-bytes` MP4-headed
  body (never built in memory), every other prompt with a cached small MP4;
- `/_sim/bench/tasks`: when each task's render ends, on the machine's monotonic clock (the same
  CLOCK_MONOTONIC every process here reads), so lag = bot knew - render ended.

It also serves a minimal fake Slack Web API on a second port (status messages and the
three-step external upload, whose upload URL counts bytes without keeping them).

Run: python -m bench.simserver '{"render_seconds": 60}' --jitter 0.2 --big-bytes 200000000
Prints one line: `sim <url> slack <url>`; stops on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import signal
from typing import Any

from aiohttp import web

from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.server import Simulator
from adapters.simulator.state import SimTask

BIG_MARK = "[big]"
_CHUNK = 1 << 20


class BenchSimulator(Simulator):
    def __init__(self, config: SimConfig, jitter: float, big_bytes: int, seed: int) -> None:
        super().__init__(config)
        self.jitter = jitter
        self.big_bytes = big_bytes
        self._jitter_rng = random.Random(seed)
        self._small: dict[tuple[str, str, int], bytes] = {}

    def _create(
        self, spec: dict[str, Any], dialect: str, key: str | None, task_id: str | None = None
    ) -> SimTask:
        task = super()._create(spec, dialect, key, task_id)
        if self.jitter:
            spread = self._jitter_rng.uniform(1 - self.jitter, 1 + self.jitter)
            task.render_seconds = self.config.render_seconds * spread
        return task

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.status(self.clock())[0] != "completed":
            return web.json_response({"error": {"message": "No such video."}}, status=404)
        self.stats.downloads_by_task[task.task_id] += 1
        if BIG_MARK in task.prompt and self.big_bytes:
            return await self._stream_big(request)
        key = (task.prompt, task.aspect_ratio, task.duration)
        if key not in self._small:
            self._small[key] = await asyncio.to_thread(
                render_mp4, task.prompt, task.aspect_ratio, task.duration, self.config.video_height
            )
        return web.Response(body=self._small[key], content_type="video/mp4")

    async def _stream_big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = self.big_bytes
        await response.prepare(request)
        head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
        zeros = bytes(_CHUNK)
        chunk = head + zeros[len(head) :]
        left = self.big_bytes
        while left > 0:
            part = chunk if left >= _CHUNK else chunk[:left]
            await response.write(part)
            left -= len(part)
            chunk = zeros
        await response.write_eof()
        return response

    async def _bench_tasks(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                t.task_id: {"finishes_at": t.finishes_at, "prompt": t.prompt}
                for t in self.tasks.values()
            }
        )

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/_sim/bench/tasks", self._bench_tasks)
        return app


class FakeSlackSink:
    """Just enough Slack Web API for SlackChat: messages and the external upload."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.url = ""
        self.uploaded: dict[str, int] = {}
        self.calls = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/_state", self._state)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        self.calls += 1
        method = request.match_info["method"]
        n = next(self._ids)
        if method == "files.getUploadURLExternal":
            file_id = f"F{n:08d}"
            body = {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        elif method == "files.completeUploadExternal":
            body = {"ok": True, "files": []}
        elif method == "files.info":
            body = {"ok": False, "error": "file_not_found"}
        else:
            body = {"ok": True, "ts": f"1700000000.{n:06d}", "channel": "C1"}
        return web.json_response(body)

    async def _upload(self, request: web.Request) -> web.Response:
        size = 0
        async for chunk in request.content.iter_chunked(_CHUNK):
            size += len(chunk)
        self.uploaded[request.match_info["file_id"]] = size
        return web.Response(text=f"OK - {size}")

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({"uploaded": self.uploaded, "calls": self.calls})


async def _site(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner, f"http://127.0.0.1:{port}"


async def serve(config: SimConfig, jitter: float, big_bytes: int, seed: int) -> None:
    sim = BenchSimulator(config, jitter, big_bytes, seed)
    sink = FakeSlackSink()
    sim_runner, sim.base_url = await _site(sim.app())
    sink_runner, sink.url = await _site(sink.app())
    print(f"sim {sim.base_url} slack {sink.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim_runner.cleanup()
        await sink_runner.cleanup()


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("config", help="SimConfig knobs as a JSON object")
    args.add_argument("--jitter", type=float, default=0.0)
    args.add_argument("--big-bytes", type=int, default=0)
    args.add_argument("--seed", type=int, default=1)
    ns = args.parse_args()
    config = SimConfig(**json.loads(ns.config))
    asyncio.run(serve(config, ns.jitter, ns.big_bytes, ns.seed))


if __name__ == "__main__":
    main()
