"""Google's Interactions API as the simulator speaks it: speaker `google` (the Gemini API, with
the Files API of google_files.py) and `vertex` (the same under a project and location, with an
OAuth token from google_auth.py). Statuses without progress, the video as a `uri` or inline
`data` (knob `delivery`), refusals in the model's words, and both of Google's error bodies.

Simulator-only prompt words choose a fate: `forbidden`/`nsfw`/`gore` a safety refusal
(`completed` with only text); `#budget_exceeded`, `#incomplete`, `#requires_action` those ends.
Knobs (`POST /_sim/google`): delivery (asked|uri|inline), rate_cap (interactions in flight
before a submit is accepted and then fails on its first poll), file_processing_looks,
file_fate (ACTIVE|FAILED), token_ttl (seconds), trusted_key (a PEM the token JWTs must match)."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.simulator.google_auth import TokenIssuer
from adapters.simulator.google_files import FilesApi, clip_shape
from adapters.simulator.google_wire import GoogleRequest, interaction_view, read_request
from adapters.simulator.mp4 import render_mp4

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator
    from adapters.simulator.state import SimTask

IDEMPOTENCY_HEADER = "Idempotency-Key"
_ENDS = re.compile(r"#(budget_exceeded|incomplete|requires_action)\b")
KNOBS: dict[str, Any] = {
    "delivery": "asked",
    "rate_cap": None,
    "file_processing_looks": 1,
    "file_fate": "ACTIVE",
    "token_ttl": 3600.0,
    "trusted_key": None,
}


@dataclass
class Interaction:
    task: SimTask
    ask: GoogleRequest
    end: str | None = None  # a fate other than the render's own: see the module docstring
    cancelled: bool = False
    polled: int = 0


class GoogleSpeaker:
    def __init__(self, sim: Simulator, vertex: bool) -> None:
        self.sim = sim
        self.vertex = vertex
        self.knobs: dict[str, Any] = dict(KNOBS)
        self.interactions: dict[str, Interaction] = {}
        self.files = FilesApi(self)
        self.tokens = TokenIssuer(self)

    def routes(self) -> list[web.RouteDef]:
        knobs = [web.get("/_sim/google", self._state), web.post("/_sim/google", self._configure)]
        if self.vertex:
            root = "/v1beta1/projects/{project}/locations/{location}/interactions"
            return [
                web.post(root, self._create),
                web.get(root + "/{id}", self._get),
                web.post(root + "/{id}", self._cancel),  # `{id}:cancel`
                web.post(root + "/{id}/cancel", self._cancel),
                *self.tokens.routes(),
                *self.files.routes()[-1:],  # the storage origin of `uri` results
                *knobs,
            ]
        return [
            web.post("/v1beta/interactions", self._create),
            web.get("/v1beta/interactions/{id}", self._get),
            web.post("/v1beta/interactions/{id}", self._cancel),
            web.post("/v1beta/interactions/{id}/cancel", self._cancel),
            web.get("/v1beta/models/{model}", self._model),
            *self.files.routes(),
            *knobs,
        ]

    # -- create --------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.StreamResponse:
        if refused := self.tokens.refusal(request):
            return refused
        if self.tokens.both_credentials(request):
            return self.refuse(
                400, "invalid_request", "Multiple authentication credentials received."
            )
        try:
            body = await request.json()
        except ValueError:
            return self.refuse(400, "invalid_request", "The body is not valid JSON.")
        try:
            ask = read_request(body, self.vertex, self._known)
        except LookupError as err:
            return self.old_error(403, "PERMISSION_DENIED", str(err))
        except ValueError as err:
            return self.refuse(400, "invalid_request", str(err))
        sim = self.sim
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key:
            sim.stats.submits_by_key[key] += 1
        if key and sim.config.honour_idempotency and key in sim.by_key:
            found = self.interactions[sim.by_key[key]]
        else:
            found = self._start(ask, key)
        if sim.config.submit_latency:
            await asyncio.sleep(sim.config.submit_latency)
        if sim.rng.random() < sim.config.drop_after_submit:
            sim.stats.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if sim.config.error_after_submit and sim.rng.random() < sim.config.error_after_submit:
            sim.stats.responses_500 += 1
            return self.refuse(500, "internal_error", "Transient upstream failure.")
        return web.json_response(await interaction_view(found, self, sim.clock(), created=True))

    def _start(self, ask: GoogleRequest, key: str | None) -> Interaction:
        live = ("queued", "in_progress")
        in_flight = sum(1 for i in self.interactions.values() if self.status(i) in live)
        spec = ask.spec(self._shape(ask))
        name = "vertex" if self.vertex else "google"
        task = self.sim._create(spec, name, key, f"v1_{uuid.uuid4().hex[:24]}")  # noqa: SLF001
        task.callback_url = ask.callback_url
        task.image = self.files.held(ask.picture)  # an image-to-video result shows its input
        found = Interaction(task, ask)
        cap = self.knobs["rate_cap"]
        if cap is not None and in_flight >= int(cap):
            found.end = "too_many_requests"  # accepted with an id, refused at the first poll
        elif matched := _ENDS.search(ask.prompt):
            found.end = matched.group(1)
        self.interactions[task.task_id] = found
        return found

    def _known(self, kind: str, ref: str) -> str | None:
        """What is wrong with an input `ref` (a file uri or a previous interaction), if any."""
        if kind == "previous":
            previous = self.interactions.get(ref)
            if previous is None or not previous.ask.store or self.status(previous) != "completed":
                return "Invalid interaction name"
            return None
        file = self.files.by_uri(ref)
        if file is None:
            raise LookupError(
                f"You do not have permission to access the File {ref} or it may not exist."
            )
        if file.state != "ACTIVE":
            return f"File {file.name} is not in an ACTIVE state and usage is not allowed."
        return None

    def _shape(self, ask: GoogleRequest) -> tuple[str, int] | None:
        """(ratio, seconds) of what an edit follows: the result it continues, or its clip."""
        found = self.interactions.get(ask.previous or "")
        if found:
            return found.task.aspect_ratio, found.task.duration
        data = self.files.held(ask.clip)
        return clip_shape(data) if data else None

    # -- poll, cancel ----------------------------------------------------------------------------
    async def _get(self, request: web.Request) -> web.StreamResponse:
        if refused := self.tokens.refusal(request):
            return refused
        found = self.interactions.get(request.match_info["id"])
        if found is None:
            return self.refuse(400, "invalid_request", "Invalid interaction name")
        found.polled += 1
        self.sim.stats.polls_by_task[found.task.task_id] += 1
        return web.json_response(await interaction_view(found, self, self.sim.clock()))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if refused := self.tokens.refusal(request):
            return refused
        ident = request.match_info["id"].removesuffix(":cancel")
        found = self.interactions.get(ident)
        if found is None:
            return self.refuse(400, "invalid_request", "Invalid interaction name")
        if self.status(found) in ("queued", "in_progress"):
            found.cancelled = True
        return web.json_response(await interaction_view(found, self, self.sim.clock()))

    def status(self, found: Interaction) -> str:
        """The interaction's status now (simulator time)."""
        now = self.sim.clock()
        state, _ = found.task.status(now)
        if found.cancelled:
            return "cancelled"
        if found.end == "too_many_requests":
            return "failed" if found.polled else "in_progress"
        if state in ("queued", "running"):
            return "queued" if state == "queued" else "in_progress"
        if found.task.done_at is None:
            found.task.done_at = now
        if found.end:
            return found.end
        if found.task.fate == "policy":
            return "completed"  # with only the model's words: see interaction_view
        return state  # completed | failed

    async def video(self, task_id: str) -> bytes | None:
        """The finished render's MP4; None once its file has expired."""
        task = self.sim.tasks.get(task_id)
        if task is None or self.sim.clock() - task.finishes_at > self.sim.config.result_ttl:
            return None
        self.sim.stats.downloads_by_task[task_id] += 1
        shape = (task.prompt, task.aspect_ratio, task.duration, self.sim.config.video_height)
        return await asyncio.to_thread(render_mp4, *shape, still=task.image)

    async def inline_data(self, task_id: str) -> str:
        data = await self.video(task_id)
        return base64.b64encode(data or b"").decode("ascii")

    def storage_base(self) -> str:
        """Results live on another origin (storage.googleapis.com): here, the same server
        under another host name, so a key that followed the redirect would show."""
        return self.sim.base_url.replace("127.0.0.1", "localhost")

    # -- small things --------------------------------------------------------------------------
    async def _model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"].removeprefix("models/")
        if model not in GoogleRequest.models(self.vertex):
            return self.refuse(
                404, "not_found", f"models/{model} is not found for API version v1beta"
            )
        return web.json_response({"name": f"models/{model}", "displayName": model})

    def refuse(self, status: int, kind: str, message: str) -> web.Response:
        """An error in the body this API answers with (Gemini's words; Google Cloud's codes)."""
        return (cloud_error if self.vertex else gemini_error)(status, kind, message)

    def old_error(self, status: int, name: str, message: str) -> web.Response:
        """Google's front end still answers some refusals in its older list-shaped body."""
        body = [{"error": {"code": status, "message": message, "status": name}}]
        return web.json_response(body, status=status)

    async def _state(self, request: web.Request) -> web.StreamResponse:
        shown = {k: v for k, v in self.knobs.items() if k != "trusted_key"}
        return web.json_response(
            {
                **shown,
                "storage_headers": self.files.storage_headers,
                "files": {n: f.state for n, f in self.files.files.items()},
                "tokens_issued": self.tokens.issued,
                "statuses": {i: self.status(f) for i, f in self.interactions.items()},
                "now": datetime.now(UTC).isoformat(),
            }
        )

    async def _configure(self, request: web.Request) -> web.StreamResponse:
        changes = await request.json()
        if not isinstance(changes, dict) or set(changes) - set(KNOBS):
            return self.refuse(400, "invalid_request", "send a JSON object of: " + ", ".join(KNOBS))
        self.knobs.update(changes)
        return web.json_response({k: v for k, v in self.knobs.items() if k != "trusted_key"})


_CODES = {
    "authentication_error": ("authentication", "UNAUTHENTICATED"),
    "rate_limit_exceeded": ("rate_limit_exceeded", "RESOURCE_EXHAUSTED"),
    "internal_error": ("internal", "INTERNAL"),
    "invalid_request": ("invalid_request", "INVALID_ARGUMENT"),
    "not_found": ("not_found", "NOT_FOUND"),
}


def gemini_error(status: int, kind: str, message: str) -> web.Response:
    """The Gemini API's error body: `{"error": {"code": "<word>", "message"}}`."""
    code = _CODES.get(kind, (kind, ""))[0]
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def cloud_error(status: int, kind: str, message: str) -> web.Response:
    """Google Cloud's (Vertex AI's): `{"error": {"code": 401, "message", "status"}}`."""
    name = _CODES.get(kind, ("", "UNKNOWN"))[1]
    body = {"error": {"code": status, "message": message, "status": name}}
    return web.json_response(body, status=status)


def google(sim: Simulator) -> list[web.RouteDef]:
    return GoogleSpeaker(sim, vertex=False).routes()


def vertex(sim: Simulator) -> list[web.RouteDef]:
    return GoogleSpeaker(sim, vertex=True).routes()
