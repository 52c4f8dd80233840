"""The simulated Interactions API's wire: a create request read and checked (400s that name the
field and what is allowed), and the interaction object at any moment of its life."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.simulator.google import GoogleSpeaker, Interaction

GEMINI_MODELS = frozenset({"gemini-omni-1.1-flash", "gemini-omni-1.2-flash"})
VERTEX_MODELS = frozenset(
    {"gemini-omni-1.2-flash", "gemini-omni-1.1-flash-preview", "gemini-omni-flash-preview"}
)
TASKS = ("text_to_video", "image_to_video", "reference_to_video", "edit", "extend")
RESOLUTIONS = ("360p", "720p", "1080p", "4k")
_DURATION = re.compile(r"^(\d{1,2})s$")
VIDEO_TOKENS_PER_SECOND = 5792  # at 720p (UPSTREAM.md); other resolutions by their pixels
_PIXELS = {"360p": 640 * 360, "720p": 1280 * 720, "1080p": 1920 * 1080, "4k": 3840 * 2160}


def video_tokens_per_second(resolution: str) -> int:
    """The output video tokens a second of video at `resolution` is counted as."""
    return VIDEO_TOKENS_PER_SECOND * _PIXELS.get(resolution, _PIXELS["720p"]) // _PIXELS["720p"]


Known = Callable[[str, str], str | None]


@dataclass(frozen=True)
class GoogleRequest:
    model: str
    task: str
    prompt: str
    images: int
    videos: int
    aspect_ratio: str | None
    duration: int | None
    resolution: str
    delivery: str | None
    previous: str | None
    store: bool
    callback_url: str | None
    clip: dict[str, Any] | None = None  # the first video part, which an edit follows
    picture: dict[str, Any] | None = None  # the first image part, shown in the result

    @staticmethod
    def models(vertex: bool) -> frozenset[str]:
        return VERTEX_MODELS if vertex else GEMINI_MODELS

    def spec(self, shape: tuple[str, int] | None) -> dict[str, Any]:
        """The SimTask fields: an edit keeps the `shape` (ratio, seconds) of what it edits."""
        ratio, seconds = shape or ("16:9", 4)
        return {
            "model": self.model,
            "mode": self.task,
            "prompt": self.prompt,
            "duration": self.duration or seconds,
            "aspect_ratio": self.aspect_ratio or ratio,
            "image_count": self.images,
        }


def read_request(body: Any, vertex: bool, known: Known) -> GoogleRequest:
    """A create request, checked as Google checks it. ValueError: a 400 (the message names the
    field); LookupError (from `known`): a file that is not ours to use (403)."""
    if not isinstance(body, dict):
        raise ValueError("The body must be a JSON object.")
    model = body.get("model")
    if model not in GoogleRequest.models(vertex):
        allowed = sorted(GoogleRequest.models(vertex))
        raise ValueError(f"model: {model!r} is not found; use one of {allowed}")
    if body.get("background") is not True:
        raise ValueError("background must be true: video generation runs in the background")
    previous = body.get("previous_interaction_id")
    if previous is not None and (problem := known("previous", str(previous))):
        raise ValueError(problem)
    prompt, images, videos, (clip, picture) = _input(body.get("input"), vertex, known)
    task = ((body.get("generation_config") or {}).get("video_config") or {}).get("task")
    if task not in TASKS:
        raise ValueError(f"generation_config.video_config.task must be one of {list(TASKS)}")
    _fits(task, images, videos, previous is not None)
    shape = body.get("response_format") or {}
    if shape.get("type", "video") != "video":
        raise ValueError("response_format.type must be video")
    duration = shape.get("duration")
    ratio = shape.get("aspect_ratio")
    if task == "edit" and (duration is not None or ratio is not None):
        raise ValueError("edit takes neither duration nor aspect_ratio: it follows its video")
    seconds = None
    if duration is not None:
        matched = _DURATION.match(duration) if isinstance(duration, str) else None
        if not matched or not 1 <= int(matched.group(1)) <= 15:
            raise ValueError('response_format.duration is a string with a unit, e.g. "8s" (1-15 s)')
        seconds = int(matched.group(1))
    if ratio is not None and ratio not in ("16:9", "9:16"):
        raise ValueError("response_format.aspect_ratio must be 16:9 or 9:16")
    resolution = str(shape.get("resolution", "720p")).lower()
    if resolution not in RESOLUTIONS:
        raise ValueError(f"response_format.resolution must be one of {list(RESOLUTIONS)}")
    delivery = shape.get("delivery")
    if delivery not in (None, "uri", "inline"):
        raise ValueError("response_format.delivery must be uri or inline")
    uris = (body.get("webhook_config") or {}).get("uris") or []
    return GoogleRequest(
        model=str(model),
        task=task,
        prompt=prompt,
        images=images,
        videos=videos,
        aspect_ratio=ratio,
        duration=seconds,
        resolution=resolution,
        delivery=delivery,
        previous=str(previous) if previous is not None else None,
        store=body.get("store", True) is not False,
        callback_url=str(uris[0]) if uris else None,
        clip=clip,
        picture=picture,
    )


Part = dict[str, Any] | None


def _input(value: Any, vertex: bool, known: Known) -> tuple[str, int, int, tuple[Part, Part]]:
    """(prompt, image count, video count, (first video part, first image part)) of `input`: a
    string, or a list of parts."""
    if isinstance(value, str):
        parts: list[Any] = [{"type": "text", "text": value}]
    elif isinstance(value, list):
        parts = value
    else:
        raise ValueError("input must be a string or a list of content parts")
    texts, images, videos = [], 0, 0
    clip = picture = None
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image", "video"):
            _medium(part, kind, vertex, known)
            images += kind == "image"
            videos += kind == "video"
            clip = clip or (part if kind == "video" else None)
            picture = picture or (part if kind == "image" else None)
        else:
            raise ValueError(f"unknown content part type {kind!r}")
    prompt = " ".join(t.strip() for t in texts if t.strip())
    if not prompt:
        raise ValueError("input needs a text part with the prompt")
    if images > 10 or videos > 3:
        raise ValueError("at most 10 images and 3 videos per request")
    return prompt, images, videos, (clip, picture)


def _medium(part: dict[str, Any], kind: str, vertex: bool, known: Known) -> None:
    if part.get("uri"):
        if vertex:
            raise ValueError(f"{kind} parts take inline data here (there is no Files API)")
        if problem := known("file", str(part["uri"])):
            raise ValueError(problem)
    elif not (part.get("data") and part.get("mime_type")):
        raise ValueError(f"an {kind} part needs data and mime_type, or a uri")


def _fits(task: str, images: int, videos: int, previous: bool) -> None:
    rules = {
        "text_to_video": images == 0 and videos == 0,
        "image_to_video": 1 <= images <= 2 and videos == 0,
        "reference_to_video": images >= 1 and videos == 0,
        "edit": videos >= 1 or previous,
        "extend": videos == 1 or previous,
    }
    if not rules[task]:
        raise ValueError(f"the media given ({images} images, {videos} videos) do not fit {task}")


async def interaction_view(
    found: Interaction, speaker: GoogleSpeaker, now: float, created: bool = False
) -> dict[str, Any]:
    """The interaction as a create (`created`) or a poll answers it."""
    task = found.task
    status = "in_progress" if created else speaker.status(found)
    stamp = task.created_wall.isoformat().replace("+00:00", "Z")
    view: dict[str, Any] = {
        "id": task.task_id,
        "object": "interaction",
        "model": task.model,
        "status": status,
        "created": stamp,
        "updated": stamp,
    }
    if found.ask.previous:
        view["previous_interaction_id"] = found.ask.previous
    if created or status in ("queued", "in_progress", "cancelled"):
        return view
    if status == "failed":
        capped = found.end == "too_many_requests"
        view["errors"] = [
            {"code": "too_many_requests", "message": "Resource exhausted: too many requests."}
            if capped
            else {"code": "internal", "message": "The render failed on the accelerator."}
        ]
        return view
    if status != "completed":  # budget_exceeded | incomplete | requires_action
        return view
    view["steps"] = [
        {"type": "user_input", "content": [{"type": "text", "text": found.ask.prompt}]},
        {"type": "thought", "signature": "c2ltdWxhdGVk"},
        {"type": "model_output", "content": [await _output(found, speaker)]},
    ]
    tokens = video_tokens_per_second(found.ask.resolution) * task.duration
    view["usage"] = {
        "total_input_tokens": len(found.ask.prompt.split()) + 258 * found.ask.images,
        "total_output_tokens": tokens,
        "output_tokens_by_modality": [{"modality": "video", "tokens": tokens}],
    }
    ended = task.created_wall + timedelta(seconds=task.finishes_at - task.created)
    view["updated"] = ended.isoformat().replace("+00:00", "Z")
    return view


async def _output(found: Interaction, speaker: GoogleSpeaker) -> dict[str, Any]:
    task = found.task
    if task.fate == "policy":
        return {
            "type": "text",
            "text": "I can't make that video: the request goes against the content policy.",
        }
    delivery = speaker.knobs["delivery"]
    if delivery == "asked":
        delivery = found.ask.delivery or "inline"
    if delivery == "inline":
        data = await speaker.inline_data(task.task_id)
        return {"type": "video", "mime_type": "video/mp4", "data": data}
    if speaker.vertex:  # no Files API: a signed storage link
        token = speaker.files.sign(task.task_id)
        uri = f"{speaker.storage_base()}/files/storage/{token}?X-Goog-Signature=simsig{token[:8]}"
    else:
        file = speaker.files.generated(task.task_id)
        uri = f"{speaker.sim.base_url}/v1beta/{file.name}:download?alt=media"
    return {"type": "video", "mime_type": "video/mp4", "uri": uri}
