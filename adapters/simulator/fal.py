"""fal's queue as the simulator speaks it: `POST /{owner}/gemini-omni-flash[/image-to-video|
/reference-to-video|/edit]` (`?fal_webhook=` kept for the call-back) answers a request id and
its URLs; `.../requests/{id}/status` says IN_QUEUE (with queue_position), IN_PROGRESS or
COMPLETED (with `error` when it failed), no progress; `.../requests/{id}` holds `video.url`."""

from __future__ import annotations

import uuid
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
)
from adapters.simulator.state import SimTask
from adapters.simulator.wire import held_image

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

APP = "gemini-omni-flash"
_ROOT = "/{owner:fal-ai|google}/{app:[^/]+}"
_MODES = {
    "": "text-to-video",
    "image-to-video": "image-to-video",
    "reference-to-video": "r2v",
    "edit": "video-edit",
}
_TYPES = {401: None, 429: "rate_limited", 500: "internal_error"}


def error(status: int, kind: str, message: str) -> web.Response:
    body: dict[str, Any] = {"detail": message}
    if error_type := _TYPES.get(status, kind):
        body["error_type"] = error_type
    return web.json_response(body, status=status)


def refusal(err: Refused) -> web.Response:
    """A model's validation error: 422 with `detail` a list of `{loc, msg, type}`."""
    detail = [{"loc": ["body", err.field], "msg": str(err), "type": "value_error"}]
    return web.json_response({"detail": detail}, status=422)


def routes(sim: Simulator) -> list[web.RouteDef]:
    def urls(request: web.Request, request_id: str) -> dict[str, str]:
        base = f"{sim.base_url}/{request.match_info['owner']}/{APP}/requests/{request_id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    def found(request: web.Request) -> SimTask | web.Response:
        task = sim.tasks.get(request.match_info["request_id"])
        if request.match_info["app"] != APP or task is None:
            return error(404, "not_found", "Request not found.")
        return task

    async def submit(request: web.Request) -> web.StreamResponse:
        if request.match_info["app"] != APP:
            return error(404, "not_found", f"Application {request.match_info['app']!r} not found.")
        mode = _MODES[request.match_info.get("path", "")]
        try:
            spec = validate(sim, mode, await json_object(request))
        except Refused as err:
            return refusal(err)
        # On the task from its creation: a call-back may be due before this answer leaves.
        spec["callback_url"] = request.query.get("fal_webhook")
        admitted = await sim.admit(request, spec, "fal", task_id=str(uuid.uuid4()))
        if not isinstance(admitted, SimTask):
            return admitted
        answer = {"status": "IN_QUEUE", "request_id": admitted.task_id, "queue_position": 0}
        return web.json_response({**answer, **urls(request, admitted.task_id)})

    async def status(request: web.Request) -> web.StreamResponse:
        task = found(request)
        if not isinstance(task, SimTask):
            return task
        sim.stats.polls_by_task[task.task_id] += 1
        state, _ = observe(sim, task)
        body: dict[str, Any] = {"request_id": task.task_id, **urls(request, task.task_id)}
        if state == "queued":
            position = _queue_position(sim, task)
            return web.json_response(
                {"status": "IN_QUEUE", "queue_position": position, **body}, status=202
            )
        if state == "running":
            return web.json_response({"status": "IN_PROGRESS", "logs": [], **body}, status=202)
        body.update(status="COMPLETED", logs=[], metrics={"inference_time": task.render_seconds})
        if state == "failed":
            body.update(error=task.error()["message"], error_type=task.error()["code"])
        return web.json_response(body)

    async def result(request: web.Request) -> web.StreamResponse:
        task = found(request)
        if not isinstance(task, SimTask):
            return task
        state, _ = observe(sim, task)
        if state == "completed":
            video = {
                "url": file_url(sim, task),
                "content_type": "video/mp4",
                "file_name": f"{task.task_id}.mp4",
            }
            # fal bills a video model per second of output, and says how many it billed.
            billed = {"x-fal-billable-units": str(task.duration)}
            return web.json_response({"video": video}, headers=billed)
        if state != "failed":
            return error(400, "bad_request", "Request is still in progress.")
        reason = task.error()
        if task.fate == "policy":
            item = {"loc": ["body", "prompt"], "msg": reason["message"], "type": reason["code"]}
            return web.json_response({"detail": [item]}, status=422)
        return error(500, "runner_server_error", reason["message"])

    modes = "{path:image-to-video|reference-to-video|edit}"
    return [
        web.post(_ROOT, submit),
        web.post(f"{_ROOT}/{modes}", submit),
        web.get(f"{_ROOT}/requests/{{request_id}}/status", status),
        web.get(f"{_ROOT}/requests/{{request_id}}", result),
    ]


def validate(sim: Simulator, mode: str, body: dict[str, Any]) -> dict[str, Any]:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Refused("field required", "prompt")
    refs: list[str] = []
    if mode == "image-to-video":
        refs = [_file(body, "image_url", "data:image/")]
    elif mode == "r2v":
        given = body.get("image_urls")
        if not isinstance(given, list) or not given or not all(isinstance(u, str) for u in given):
            raise Refused("a non-empty list of image URLs is required", "image_urls")
        refs = given
    if mode == "video-edit":
        duration, shape = edit_shape(sim, _file(body, "video_url", "data:video/"))
    else:
        duration = seconds(body.get("duration", 8))
        shape = ratio(body.get("aspect_ratio", "16:9"))
    return {
        "model": f"google/{APP}",
        "mode": mode,
        "prompt": prompt,
        "duration": duration,
        "aspect_ratio": shape,
        "image_count": len(refs),
        "image": held_image(refs[0], sim.uploads) if refs else None,  # shown in the result
    }


def _queue_position(sim: Simulator, task: SimTask) -> int:
    """How many requests still queued were made before this one."""
    now = sim.clock()
    earlier = list(sim.tasks.values())
    earlier = earlier[: earlier.index(task)]
    return sum(1 for other in earlier if other.status(now)[0] == "queued")


def _file(body: dict[str, Any], field: str, inline: str) -> str:
    """A file input: a link, or a data: URL of the right kind."""
    value = body.get(field)
    if not isinstance(value, str) or not (is_link(value) or value.startswith(inline)):
        raise Refused("a file URL (or data: URL) is required", field)
    return value
