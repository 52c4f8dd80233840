"""The local upstream: a real HTTP server (aiohttp) speaking one provider's wire format
(`SimConfig.dialect`: `auto` answers both published gateway dialects, `guide` and `toapis`;
speakers.py names the others) and its error table, rendering real MP4s, with fault knobs, and
`/_sim/state` counting what tests need to prove money was not wasted."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.simulator import memory, wire
from adapters.simulator.callbacks import CallbackSender
from adapters.simulator.gateway import file_url, observe
from adapters.simulator.knobs import SimConfig, knob
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.speakers import ERROR_SHAPES, GATEWAY_DIALECTS, OPEN_PATHS, SPEAKERS
from adapters.simulator.state import SimTask, Stats, TaskBook
from adapters.simulator.wire import MODELS, error, presented_key, task_view, validate

_POLICY_WORDS = re.compile(r"\b(forbidden|nsfw|gore)\b", re.IGNORECASE)
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Simulator:
    """State plus the aiohttp application; `clock` (seconds) can be a test's fake clock."""

    def __init__(self, config: SimConfig | None = None, clock: Callable[[], float] | None = None):
        self.config = config or SimConfig()
        self.clock = clock or time.monotonic
        self.rng = random.Random(self.config.seed)
        self.tasks = TaskBook()
        self.by_key: dict[str, str] = {}
        self.uploads: dict[str, tuple[bytes, str]] = {}
        self.stats = Stats()
        self.base_url = ""
        self.callbacks = CallbackSender(self)
        if self.config.state_file:
            loaded, self.by_key = memory.load(Path(self.config.state_file), self.clock)
            for task_id, task in loaded.items():  # through the book: callbacks see them too
                self.tasks[task_id] = task

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults], client_max_size=64 * 1024 * 1024)
        if self.config.dialect in GATEWAY_DIALECTS:
            generations = "/v1/videos/generations"
            app.add_routes([web.post(generations, self._submit)])
            app.add_routes([web.get(generations + "/{task_id}", self._poll)])
        elif self.config.dialect in SPEAKERS:
            app.add_routes(SPEAKERS[self.config.dialect](self))
        else:
            raise ValueError(f"the simulator does not speak {self.config.dialect!r}")
        app.add_routes(
            [
                web.post("/v1/uploads/images", self._upload),
                web.get("/uploads/{name}", self._uploaded),
                web.get("/files/{task_id}.mp4", self._file),
                web.post("/v1/chat/completions", self._chat_trap),
                web.get("/v1/models", self._models),
                web.get("/_sim/state", self._state),
                web.post("/_sim/config", self._configure),
                *self.callbacks.routes(),
            ]
        )
        app.cleanup_ctx.append(self.callbacks.context)
        return app

    # -- faults ------------------------------------------------------------------------------
    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(("/_sim/", "/.well-known/")):
            return await handler(request)  # type: ignore[no-any-return]
        self.stats.requests += 1
        self.stats.request_times.append(self.clock())
        cfg = self.config
        if cfg.latency:
            await asyncio.sleep(cfg.latency)
        if request.path.startswith(OPEN_PATHS):
            return await handler(request)  # type: ignore[no-any-return]
        key = presented_key(request)
        if not key or (cfg.api_key is not None and key != cfg.api_key):
            self.stats.responses_401 += 1
            return self.fault(401, "authentication_error", "Invalid or missing API key.")
        if self.rng.random() < cfg.rate_429:
            self.stats.responses_429 += 1
            response = self.fault(429, "rate_limit_exceeded", "Too many requests; slow down.")
            response.headers["Retry-After"] = f"{cfg.retry_after:g}"
            return response
        if self.rng.random() < cfg.rate_500:
            return self._transient()
        return await handler(request)  # type: ignore[no-any-return]

    def fault(self, status: int, kind: str, message: str) -> web.Response:
        """An error answer in the body shape of the dialect served (the guide's by default)."""
        return ERROR_SHAPES.get(self.config.dialect, error)(status, kind, message)

    def _transient(self) -> web.Response:
        self.stats.responses_500 += 1
        response = self.fault(500, "internal_error", "Transient upstream failure.")
        response.headers["x-request-id"] = f"req_{uuid.uuid4().hex[:12]}"
        return response

    # -- the task API ------------------------------------------------------------------------
    async def _submit(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "invalid_request_error", "The body is not valid JSON.")
        if not isinstance(body, dict):
            return error(400, "invalid_request_error", "The body must be a JSON object.")
        dialect = "guide" if isinstance(body.get("input"), dict) else "toapis"
        if self.config.dialect in ("guide", "toapis") and dialect != self.config.dialect:
            return error(400, "invalid_request_error", f"this API speaks {self.config.dialect}")
        try:
            spec = validate(body, dialect, self.config.durations)
        except ValueError as err:
            return error(400, "invalid_request_error", str(err), code="invalid_request")
        admitted = await self.admit(request, spec, dialect)
        if not isinstance(admitted, SimTask):
            return admitted
        admitted.image = wire.first_image(body, self.uploads)  # shown in the result (i2v)
        return web.json_response(self._view(admitted, dialect, created=True))

    async def admit(
        self, request: web.Request, spec: dict[str, Any], dialect: str, task_id: str | None = None
    ) -> SimTask | web.StreamResponse:
        """The task a valid submit creates (or the one its Idempotency-Key already made), then
        the submit faults every dialect plays: a slow answer, a dropped one, a 500 after it."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key:
            self.stats.submits_by_key[key] += 1
        if key and self.config.honour_idempotency and key in self.by_key:
            task = self.tasks[self.by_key[key]]
        else:
            task = self._create(spec, dialect, key, task_id)
        if self.config.submit_latency:
            # The task exists (and is billed) before a slow gateway answers: a client that
            # times out here has created a task it does not know about.
            await asyncio.sleep(self.config.submit_latency)
        if self.rng.random() < self.config.drop_after_submit:
            # The task exists (and would be billed) but the answer never arrives.
            self.stats.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if self.config.error_after_submit and self.rng.random() < self.config.error_after_submit:
            # The gateway created (and will bill) the task, then failed to say so.
            return self._transient()
        return task

    def _create(
        self, spec: dict[str, Any], dialect: str, key: str | None, task_id: str | None = None
    ) -> SimTask:
        prompt = spec["prompt"]
        fate = "succeed"
        if _POLICY_WORDS.search(prompt):
            fate = "policy"
        elif self.rng.random() < self.config.fail_rate:
            fate = "fail"
        elif self.rng.random() < self.config.never_finish_rate:
            fate = "never"
        task = SimTask(
            task_id=task_id or f"task_{uuid.uuid4().hex[:16]}",
            dialect=dialect,
            created=self.clock(),
            created_wall=datetime.now(UTC),
            render_seconds=self.config.render_seconds,
            queue_seconds=self.config.queue_seconds,
            fate=fate,
            **spec,
        )
        self.tasks[task.task_id] = task
        if key:
            self.by_key[key] = task.task_id
        self.stats.tasks_created += 1
        self.stats.submits_by_prompt[prompt] += 1
        if self.config.state_file:
            memory.save(Path(self.config.state_file), self.tasks, self.by_key, self.clock())
        return task

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return error(404, "not_found", "No such task.")
        self.stats.polls_by_task[task.task_id] += 1
        return web.json_response(self._view(task, task.dialect))

    def _view(self, task: SimTask, dialect: str, created: bool = False) -> dict[str, Any]:
        observe(self, task)
        url = file_url(self, task)
        return task_view(task, dialect, self.clock(), url, self.config.result_ttl, created)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.status(self.clock())[0] != "completed":
            return error(404, "not_found", "No such video.")
        # The link lives result_ttl from the moment the render finished (what `expires_at`
        # announces), whether or not anyone polled in between.
        if self.clock() - task.finishes_at > self.config.result_ttl:
            return error(403, "expired", "This link has expired.")
        self.stats.downloads_by_task[task.task_id] += 1
        shape = (task.prompt, task.aspect_ratio, task.duration, self.config.video_height)
        data = await asyncio.to_thread(render_mp4, *shape, still=task.image)
        return web.Response(body=data, content_type="video/mp4")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        post = await request.post()
        upload = post.get("file")
        if not isinstance(upload, web.FileField):
            return error(400, "invalid_request_error", "Send the image as multipart field `file`.")
        data = upload.file.read()
        name = hashlib.sha256(data).hexdigest()[:24]
        self.uploads[name] = (data, upload.content_type)
        self.stats.uploads += 1
        return web.json_response({"url": f"{self.base_url}/uploads/{name}"})

    async def _uploaded(self, request: web.Request) -> web.StreamResponse:
        found = self.uploads.get(request.match_info["name"])
        if found is None:
            return error(404, "not_found", "No such upload.")
        return web.Response(body=found[0], content_type=found[1])

    async def _chat_trap(self, request: web.Request) -> web.StreamResponse:
        # What gateways answer when a video model is called on the chat endpoint.
        return error(400, "invalid_request_error", "invalid apitype: -1")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [{"id": m} for m in sorted(MODELS)]})

    # -- test hooks --------------------------------------------------------------------------
    async def _state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        states = Counter(t.status(now)[0] for t in self.tasks.values())
        return {**self.stats.as_dict(), "task_states": dict(states), "config": asdict(self.config)}

    async def _configure(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = await request.json()
        except ValueError:
            changes = None
        if not isinstance(changes, dict):
            return error(400, "invalid_request_error", "send a JSON object of knobs")
        known = {f.name: f for f in fields(SimConfig) if f.name not in ("dialect", "state_file")}
        unknown = set(changes) - set(known)
        if unknown:
            return error(400, "invalid_request_error", f"unknown knobs: {sorted(unknown)}")
        try:
            changes = {name: knob(name, value) for name, value in changes.items()}
        except (TypeError, ValueError) as err:
            return error(400, "invalid_request_error", str(err))
        self.config = replace(self.config, **changes)
        if "seed" in changes:
            self.rng = random.Random(self.config.seed)
        return web.json_response(asdict(self.config))


@dataclass
class RunningSimulator:
    simulator: Simulator
    runner: web.AppRunner
    url: str = field(default="")

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_simulator(
    config: SimConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] | None = None,
) -> RunningSimulator:
    """Serve a simulator on a loopback port (0 = any free one); its URL is in `.url`."""
    simulator = Simulator(config, clock)
    runner = web.AppRunner(simulator.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()  # a taken port: its callback sender must not outlive it
        raise
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    simulator.base_url = f"http://{host}:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    return RunningSimulator(simulator, runner, simulator.base_url)
