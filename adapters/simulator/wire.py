"""The simulator's wire formats: the task object in each dialect, the gateway's 400 rules, and
the error body of the model guide's error table."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from adapters.simulator.state import SimTask

MODELS = frozenset({"gemini_omni_flash", "gemini_omni", "gemini-omni-flash"})
GUIDE_MODES = {"text-to-video", "image-to-video", "r2v", "video-edit"}


def task_view(
    task: SimTask, dialect: str, now: float, url: str, ttl: float, created: bool = False
) -> dict[str, Any]:
    """The task as the dialect shows it: on submit (`created`) or on a poll at time `now`."""
    state, progress = task.status(now)
    expires = task.created_wall.timestamp() + (task.finishes_at - task.created)
    expires += ttl
    if dialect == "guide":
        view: dict[str, Any] = {
            "task_id": task.task_id,
            "model": task.model,
            "mode": task.mode,
            "status": "queued" if created else state,
            "created_at": task.created_wall.isoformat().replace("+00:00", "Z"),
        }
        if not created:  # the submit answer carries no progress (UPSTREAM.md)
            view["progress"] = progress
        if state == "completed" and not created:
            view["video_url"] = url
            view["expires_at"] = datetime.fromtimestamp(expires, UTC).isoformat()
        if state == "failed" and not created:
            view["error"] = task.error()
        return view
    view = {
        "id": task.task_id,
        "object": "generation.task",
        "model": task.model,
        "status": "queued" if created else {"running": "in_progress"}.get(state, state),
        "created_at": int(task.created_wall.timestamp()),
    }
    if not created:
        view["progress"] = progress
    if state == "completed" and not created:
        view["result"] = url
        view["completed_at"] = int(expires - ttl)
        view["expires_at"] = int(expires)
    if state == "failed" and not created:
        view["error"] = task.error()
    return view


def validate(body: dict[str, Any], dialect: str, durations: tuple[int, ...]) -> dict[str, Any]:
    """The gateway's 400 rules, with messages naming the field and what is allowed."""
    fields_ = body["input"] if dialect == "guide" else body
    model = body.get("model")
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {model!r}")
    mode = body.get("mode", "")
    if dialect == "guide" and mode not in GUIDE_MODES:
        raise ValueError(f"mode must be one of {sorted(GUIDE_MODES)}")
    prompt = fields_.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is required")
    duration = fields_.get("duration", 6)
    if isinstance(duration, float) and duration.is_integer():
        duration = int(duration)  # 6.0 is 6; the renderer needs whole seconds
    if isinstance(duration, bool) or not isinstance(duration, int) or duration not in durations:
        raise ValueError(f"duration must be one of {list(durations)}")
    ratio = fields_.get("aspect_ratio", "16:9")
    if ratio not in ("16:9", "9:16"):
        raise ValueError("aspect_ratio must be 16:9 or 9:16")
    if str(fields_.get("resolution", "720P")).upper() != "720P":
        raise ValueError("resolution: only 720P is supported")
    images = fields_.get("image_urls") or []
    video = fields_.get("video_url")
    if not isinstance(images, list) or not all(isinstance(u, str) and u for u in images):
        raise ValueError("image_urls must be a list of URLs")
    if video is not None and not isinstance(video, str):
        raise ValueError("video_url must be a URL")
    if dialect == "toapis":
        if len(images) not in (0, 1, 3):
            raise ValueError("image_urls takes 0, 1 or 3 images")
        mode = (
            "video-edit"
            if video
            else {0: "text-to-video", 1: "image-to-video"}.get(len(images), "r2v")
        )
    rules = {
        "text-to-video": not images and not video,
        "image-to-video": len(images) == 1 and not video,
        "r2v": len(images) >= 1 and not video,
        "video-edit": bool(video) and not images,
    }
    if not rules[mode]:
        raise ValueError(f"the media given do not fit mode {mode}")
    return {
        "callback_url": _callback_url(body),
        "model": model,
        "mode": mode,
        "prompt": prompt,
        "duration": duration,
        "aspect_ratio": ratio,
        "image_count": len(images),
    }


def _callback_url(body: dict[str, Any]) -> str | None:
    """A simulator-only extension of both gateway dialects: a `callback_url` the task's end is
    posted to (Standard Webhooks signed), so callbacks run end to end with these dialects too."""
    callback = body.get("callback_url")
    if callback is not None and (
        not isinstance(callback, str) or not callback.startswith(("http://", "https://"))
    ):
        raise ValueError("callback_url must be an http(s) URL")
    return callback


def error(status: int, kind: str, message: str, code: str | None = None) -> web.Response:
    return web.json_response(
        {"error": {"type": kind, "message": message, "code": code or kind}}, status=status
    )


def presented_key(request: web.Request) -> str:
    """The credential a request carries, however its provider sends it: `Authorization:
    Bearer` (gateways, Vertex AI's token), `Authorization: Key` (fal), `x-goog-api-key`."""
    if google := request.headers.get("x-goog-api-key"):
        return google.strip()
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme in ("Bearer", "Key") else ""


def first_image(body: dict[str, Any], uploads: dict[str, tuple[bytes, str]]) -> bytes | None:
    """The bytes of a submit's first image, when the simulator holds them (uploaded to it, or
    sent as a `data:` URL), so an image-to-video result can show its input."""
    fields_ = body["input"] if isinstance(body.get("input"), dict) else body
    urls = fields_.get("image_urls") or []
    url = urls[0] if isinstance(urls, list) and urls and isinstance(urls[0], str) else ""
    return held_image(url, uploads)


def held_image(ref: str, uploads: dict[str, tuple[bytes, str]]) -> bytes | None:
    """The bytes an image reference carries or names without a fetch: a `data:` URL, bare
    base64 (evolink takes it), or a link to the simulator's own upload route; else None."""
    if "/uploads/" in ref and ref.startswith(("http://", "https://")):
        found = uploads.get(ref.split("?", maxsplit=1)[0].rsplit("/uploads/", 1)[-1])
        return found[0] if found else None
    if ref.startswith(("http://", "https://")):
        return None  # somebody else's link: the simulator fetches nothing
    try:
        return base64.b64decode(ref.split(";base64,", 1)[-1], validate=True) or None
    except ValueError:
        return None
