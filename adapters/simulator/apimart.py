"""apimart as the simulator speaks it: `POST /v1/videos/generations` (the media decide the mode;
a previous task id edits that task's video) answered `{"code": 200, "data": [...]}`, and
`GET /v1/tasks/{id}` with progress, estimated_time and `result.videos[].url` + `expires_at`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.simulator.gateway import (
    Refused,
    edit_shape,
    expires_at,
    file_url,
    finished_at,
    is_link,
    json_object,
    observe,
    ratio,
    seconds,
    source,
    unix,
    urls,
)
from adapters.simulator.state import SimTask
from adapters.simulator.wire import held_image

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

MODEL = "gemini-omni-flash-preview"
_STATES = {"queued": "pending", "running": "processing"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "type": kind}}, status=status
    )


def routes(sim: Simulator) -> list[web.RouteDef]:
    async def submit(request: web.Request) -> web.StreamResponse:
        try:
            spec = validate(sim, await json_object(request))
        except Refused as err:
            return error(400, "invalid_request_error", str(err))
        admitted = await sim.admit(request, spec, "apimart", task_id=_task_id())
        if not isinstance(admitted, SimTask):
            return admitted
        task = {"status": "submitted", "task_id": admitted.task_id}
        return web.json_response({"code": 200, "data": [task]})

    async def poll(request: web.Request) -> web.StreamResponse:
        task = sim.tasks.get(request.match_info["task_id"])
        if task is None:
            return error(404, "not_found", "Task not found.")
        sim.stats.polls_by_task[task.task_id] += 1
        return web.json_response({"code": 200, "data": view(sim, task)})

    return [
        web.post("/v1/videos/generations", submit),
        web.get("/v1/tasks/{task_id}", poll),
    ]


def validate(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("model") != MODEL:
        raise Refused(f"model must be {MODEL}, got {body.get('model')!r}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Refused("prompt is required")
    # Images must be links (its upload endpoint re-hosts them); a clip may be a data: URL.
    images = urls(body, "image_urls", 16, is_link)
    clips = urls(body, "video_urls", 1, lambda u: is_link(u) or u.startswith("data:video/"))
    previous = body.get("previous_task_id")
    if previous is not None and source(sim, task_id=str(previous)) is None:
        raise Refused(f"previous_task_id {previous!r} is not a finished task of yours")
    if str(body.get("resolution", "720p")).lower() != "720p":
        raise Refused("resolution: only 720p is supported")
    if previous or clips:
        mode = "video-edit"
        duration, shape = edit_shape(sim, clips[0] if clips else None, previous)
    else:
        mode = {0: "text-to-video", 1: "image-to-video"}.get(len(images), "r2v")
        duration, shape = seconds(body.get("duration", 8)), ratio(body.get("aspect_ratio", "16:9"))
    return {
        "model": MODEL,
        "mode": mode,
        "prompt": prompt,
        "duration": duration,
        "aspect_ratio": shape,
        "image_count": len(images),
        "image": held_image(images[0], sim.uploads) if images else None,  # shown in the result
    }


def view(sim: Simulator, task: SimTask) -> dict[str, Any]:
    state, progress = observe(sim, task)
    data: dict[str, Any] = {
        "id": task.task_id,
        "status": _STATES.get(state, state),
        "progress": progress,
        "created": unix(task),
        "estimated_time": round(task.queue_seconds + task.render_seconds),
    }
    if state == "completed":
        video = {"url": [file_url(sim, task)], "expires_at": expires_at(sim, task)}
        data["result"] = {"videos": [video]}
        data["completed"] = finished_at(task)
        data["actual_time"] = finished_at(task) - unix(task)
    elif state == "failed":
        data["error"] = task.error()
    return data


def _task_id() -> str:
    """`task_01` and 24 Crockford base32 characters, like apimart's ULID-shaped ids."""
    bits = uuid.uuid4().int
    return "task_01" + "".join(_CROCKFORD[(bits >> (5 * i)) & 31] for i in range(24))
