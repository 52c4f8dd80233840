"""evolink as the simulator speaks it: one model id per mode on `POST /v1/videos/generations`
(edits take an http(s) clip link and no shape), `callback_url` kept for the call-back, and
`GET /v1/tasks/{task-unified-...}` with progress and `results` (a list of URLs)."""

from __future__ import annotations

import secrets
import string
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adapters.simulator.gateway import (
    Refused,
    edit_shape,
    file_url,
    is_link,
    json_object,
    observe,
    ratio,
    seconds,
    unix,
    urls,
)
from adapters.simulator.state import SimTask

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

FAMILY = "gemini-omni-flash"
MODES = {
    f"{FAMILY}-text-to-video": "text-to-video",
    f"{FAMILY}-image-to-video": "image-to-video",
    f"{FAMILY}-reference-to-video": "r2v",
    f"{FAMILY}-video-edit": "video-edit",
}
_IMAGES = {"text-to-video": (0, 0), "image-to-video": (1, 1), "r2v": (1, 6), "video-edit": (0, 0)}
_STATES = {"queued": "pending", "running": "processing"}
_CODES = {401: "unauthorized", 429: "rate_limit_exceeded", 500: "internal_error"}


def error(status: int, kind: str, message: str, code: str | None = None) -> web.Response:
    code = code or _CODES.get(status, kind)
    body = {"error": {"code": code, "message": message, "type": kind}}
    return web.json_response(body, status=status)


def routes(sim: Simulator) -> list[web.RouteDef]:
    async def submit(request: web.Request) -> web.StreamResponse:
        try:
            body = await json_object(request)
            spec = validate(sim, body)
        except Refused as err:
            return error(400, "invalid_request_error", str(err), code="invalid_parameter")
        task_id = f"task-unified-{int(time.time())}-{_suffix()}"
        admitted = await sim.admit(request, spec, "evolink", task_id=task_id)
        if not isinstance(admitted, SimTask):
            return admitted
        return web.json_response(view(sim, admitted, created=True))

    async def poll(request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        if not task_id.startswith("task-unified-"):
            message = "Invalid task ID format, must start with 'task-unified-'"
            return error(400, "invalid_request_error", message, code="invalid_task_id")
        task = sim.tasks.get(task_id)
        if task is None:
            return error(404, "not_found", "Task not found.", code="task_not_found")
        sim.stats.polls_by_task[task.task_id] += 1
        return web.json_response(view(sim, task))

    return [
        web.post("/v1/videos/generations", submit),
        web.get("/v1/tasks/{task_id}", poll),
    ]


def validate(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model")
    if model not in MODES:
        raise Refused(f"model must be one of {sorted(MODES)}, got {model!r}")
    mode = MODES[str(model)]
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Refused("prompt is required")
    least, most = _IMAGES[mode]
    images = urls(body, "image_urls", most, bool)  # links, data: URLs or bare base64
    if len(images) < least:
        raise Refused(f"{model} takes {least} to {most} image_urls, got {len(images)}")
    clips = urls(body, "video_urls", 1 if mode == "video-edit" else 0, is_link)
    callback = body.get("callback_url")
    if callback is not None and not (isinstance(callback, str) and is_link(callback)):
        raise Refused("callback_url must be an http(s) URL")
    if mode == "video-edit":
        if not clips:
            raise Refused("video_urls needs the clip to edit")
        if "duration" in body or "aspect_ratio" in body:
            raise Refused("video edit follows its input: duration and aspect_ratio are refused")
        duration, shape = edit_shape(sim, clips[0])
    else:
        duration = 10 if body.get("duration") == "auto" else seconds(body.get("duration", 10))
        wanted = body.get("aspect_ratio", "16:9")
        shape = "16:9" if wanted == "auto" else ratio(wanted)
    return {
        "callback_url": callback,  # on the task from its creation: a call-back may come soon
        "model": model,
        "mode": mode,
        "prompt": prompt,
        "duration": duration,
        "aspect_ratio": shape,
        "image_count": len(images),
    }


def view(sim: Simulator, task: SimTask, created: bool = False) -> dict[str, Any]:
    state, progress = ("queued", 0) if created else observe(sim, task)
    data: dict[str, Any] = {
        "created": unix(task),
        "id": task.task_id,
        "model": task.model,
        "object": "video.generation.task",
        "progress": progress,
        "status": _STATES.get(state, state),
        "task_info": {"can_cancel": state == "queued"},
        "type": "video",
    }
    if created:
        data["task_info"]["estimated_time"] = round(task.queue_seconds + task.render_seconds)
        credits = round(task.duration * 10.2, 2)
        data["usage"] = {
            "billing_rule": "per_token",
            "credits_reserved": credits,
            "user_group": "default",
        }
    if state == "completed":
        data["results"] = [file_url(sim, task)]
    elif state == "failed":
        data["error"] = {**task.error(), "type": "task_failed"}
    return data


def _suffix() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))
