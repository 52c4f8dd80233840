"""evolink's dialect (docs.evolink.ai, "Gemini Omni Flash" text-, image-, reference-to-video and
video edit, "Query Task Status"): one model id per mode, `callback_url` on submit, and
`results` (a list of URLs) on `/v1/tasks/{id}`; the video link lives 24 hours."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import (
    SubmitContext,
    TaskApi,
    Wire,
    inline_ref,
    media_url,
    provider_status,
    task_segment,
)
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ProviderRejected
from bot.ports import ProviderStatus
from bot.pricing import Usage

MODE_SUFFIX = {
    Mode.T2V: "text-to-video",
    Mode.I2V: "image-to-video",
    Mode.R2V: "reference-to-video",
    Mode.EDIT: "video-edit",
}
CLIP_REFUSED = (
    "evolink edits a clip only from a public https link, and it does not host uploaded clips. "
    "Use “Edit this video” on a video the bot made, or a provider that takes clips "
    "(VIDEOBOT_PROVIDER=apimart or fal)."
)


class _Submit(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str = Field(min_length=1)


class _Task(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    progress: Any = None
    results: Any = None
    error: Any = None
    expires_at: Any = None


class EvolinkDialect(TaskApi):
    """Images travel in the request as `data:` URLs (evolink takes them, and its upload API
    lives on another host and keeps files only 72 hours); a clip must be an https link, so a
    user's own clip is refused before anything is paid, and an edit of a result uses its link."""

    name = "evolink"

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model_for(ctx.model, request.mode),
            "prompt": request.prompt,
        }
        if request.images:
            body["image_urls"] = [media_url(m, ctx) for m in request.images]
        if request.video:
            body["video_urls"] = [media_url(request.video, ctx)]
        if request.mode is not Mode.EDIT:
            # "the output follows the input video": an edit takes neither field.
            body["duration"] = request.duration
            body["aspect_ratio"] = request.aspect_ratio
        if ctx.callback_url:
            body["callback_url"] = ctx.callback_url
        return body

    def parse_submit(self, data: Any) -> str:
        return _Submit.model_validate(data).id

    def poll_path(self, provider_task_id: str) -> str:
        return f"/v1/tasks/{task_segment(provider_task_id)}"

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _Task.model_validate(data)
        return provider_status(
            wire.status,
            progress=wire.progress,
            video_url=_first_url(wire.results),
            expires_at=wire.expires_at,
            error=wire.error,
        )

    def submit_usage(self, data: Any) -> Usage | None:
        """The credits evolink holds for a task, reported only in its submit answer: what it
        charges when the video is made (adapters/provider/usage.py keeps them until then)."""
        credits = _credits(data.get("usage")) if isinstance(data, dict) else None
        return None if credits is None else Usage(credits=credits)

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        if media.kind == "video":
            raise ProviderRejected(CLIP_REFUSED, code="clip_needs_url")
        return inline_ref(media)


def model_for(model: str, mode: Mode) -> str:
    """The mode's model id. The setting may name the family (`gemini-omni-flash`) or any one
    mode's id (`gemini-omni-flash-text-to-video`): either way each mode gets its own."""
    family = model
    for suffix in MODE_SUFFIX.values():
        family = family.removesuffix(f"-{suffix}")
    return f"{family}-{MODE_SUFFIX[mode]}"


def _credits(usage: Any) -> Decimal | None:
    """`usage.credits_reserved` (a number of credits), when it is one."""
    value = usage.get("credits_reserved") if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        credits = Decimal(str(value))
    except InvalidOperation:
        return None
    return credits if credits.is_finite() and credits >= 0 else None


def _first_url(results: Any) -> str | None:
    """`results` is a list of URLs; an object with `url` (or a bare URL) is read the same."""
    if isinstance(results, list):
        results = results[0] if results else None
    if isinstance(results, dict):
        results = results.get("url") or results.get("video_url")
    return results if isinstance(results, str) and results else None
