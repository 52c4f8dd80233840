"""A scripted, hostile video gateway on loopback (aiohttp), speaking the guide dialect: it hands
out whatever task ids a test picks, answers each poll from a per-task script (any status, any
body), can hang a submit until released, and records the raw path of every request it got."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from adapters.simulator.mp4 import render_mp4

COLLECTION = "/v1/videos/generations"


@functools.cache
def tiny_mp4() -> bytes:
    """One real MP4, rendered once per test session and served for every task."""
    return render_mp4("scripted", "16:9", 1, 16)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ScriptedUpstream:
    ids: list[str] = field(default_factory=list)  # ids to hand out, in order; then task_N
    scripts: dict[str, list[Answer]] = field(default_factory=dict)  # the last answer repeats
    raw_paths: list[str] = field(default_factory=list)
    polls: dict[str, int] = field(default_factory=dict)
    submits: int = 0
    hang_submits: bool = False
    submit_seen: asyncio.Event = field(default_factory=asyncio.Event)
    poll_seen: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    # -- what a test scripts -------------------------------------------------------------------
    def done(self, task_id: str) -> Answer:
        video = f"{self.url}/files/{len(self.raw_paths)}.mp4"
        return Answer(200, {"task_id": task_id, "status": "completed", "video_url": video})

    def script(self, task_id: str, *answers: Answer) -> None:
        self.scripts[task_id] = list(answers)

    # -- the server ----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post(COLLECTION, self._submit),
                web.get("/files/{name}", self._file),
                web.get(r"/{tail:[\s\S]*}", self._poll),
            ]
        )
        return app

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        self.raw_paths.append(request.raw_path)
        self.submits += 1
        self.submit_seen.set()
        if self.hang_submits:
            await self.release.wait()
        task_id = self.ids.pop(0) if self.ids else f"task_{self.submits}"
        self.polls.setdefault(task_id, 0)
        return web.json_response({"task_id": task_id, "status": "queued"})

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path
        self.raw_paths.append(raw)
        prefix = COLLECTION + "/"
        segment = raw.removeprefix(prefix)
        # A real gateway routes on the path: an id that leaked a `/` or a `?` into it names
        # another resource (or none), not the task.
        if not raw.startswith(prefix) or "/" in segment or "?" in segment:
            return _error(404, "not_found", "No such task.")
        task_id = unquote(segment)
        if task_id not in self.polls:
            return _error(404, "not_found", "No such task.")
        self.polls[task_id] += 1
        self.poll_seen.set()
        script = self.scripts.get(task_id)
        if not script:
            answer = self.done(task_id)
        else:
            answer = script.pop(0) if len(script) > 1 else script[0]
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=tiny_mp4(), content_type="video/mp4")


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def running(task_id: str, progress: int = 10, status: str = "running") -> Answer:
    return Answer(200, {"task_id": task_id, "status": status, "progress": progress})


def refused(status: int, message: str = "refused") -> Answer:
    return Answer(status, {"error": {"type": "request_error", "message": message}})


@asynccontextmanager
async def scripted_upstream() -> AsyncIterator[ScriptedUpstream]:
    upstream = ScriptedUpstream()
    runner = web.AppRunner(upstream.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    upstream.url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        upstream.release.set()
        await runner.cleanup()
