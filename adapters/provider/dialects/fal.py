"""fal's queue dialect (fal.ai/docs "Queue", "Inference API", "Model Errors", and the model pages
of google/gemini-omni-flash): submit to the model id plus the mode's path, poll the request's
status under owner/app alone, and read the video from the request's response once COMPLETED."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import (
    SubmitContext,
    TaskApi,
    Wire,
    inline_ref,
    media_url,
    provider_status,
    read_detail,
    read_error,
    task_segment,
)
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ProviderRejected
from bot.ports import ProviderState, ProviderStatus
from bot.pricing import Usage

# fal's own model pages name the app google/gemini-omni-flash; UPSTREAM.md's sources say
# fal-ai/gemini-omni-flash. The default follows fal; VIDEOBOT_MODEL may name the other.
DEFAULT_APP = "google/gemini-omni-flash"
MODE_PATH = {
    Mode.T2V: "",
    Mode.I2V: "/image-to-video",
    Mode.R2V: "/reference-to-video",
    Mode.EDIT: "/edit",
}
# fal's docs end every request COMPLETED (with `error` when it failed); third-party schemas
# also list these, so they are read as failures rather than as statuses nobody knows.
_FAILED = frozenset({"failed", "error"})
# fal charges only for successful outputs ("never for server errors"); what a success cost
# comes in the result answer's x-fal-billable-units header (the client reads it).
UNBILLED = Usage(billed=False)


class _Submit(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    request_id: str = Field(min_length=1)


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    error: Any = None
    error_type: Any = None
    response: Any = None


class FalDialect(TaskApi):
    """No progress (only a queue position) and no expiry. Media travel as `data:` URLs, which
    fal reads wherever it takes a file URL; the queue host has no upload route of its own."""

    name = "fal"

    def __init__(self, app: str = DEFAULT_APP) -> None:
        # Status and result live under owner/app only, whatever path the submit took.
        self.app = app_of(app)

    def submit_path(self, request: VideoRequest, ctx: SubmitContext) -> str:
        try:
            app = app_of(ctx.model)
        except ValueError as err:  # a setting no request can fix: refused, nothing sent
            raise ProviderRejected(f"{err} (VIDEOBOT_MODEL)", code="invalid_model") from None
        path = f"/{app}{MODE_PATH[request.mode]}"
        if ctx.callback_url:
            path += f"?fal_webhook={quote(ctx.callback_url, safe='')}"
        return path

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": request.prompt}
        if request.mode is Mode.EDIT:
            if request.video is None:
                raise ValueError("an edit needs its clip")
            body["video_url"] = media_url(request.video, ctx)
            return body  # the edit endpoint takes no shape: the output follows the clip
        if request.mode is Mode.I2V:
            body["image_url"] = media_url(request.images[0], ctx)
        elif request.mode is Mode.R2V:
            body["image_urls"] = [media_url(m, ctx) for m in request.images]
        body["aspect_ratio"] = request.aspect_ratio
        body["duration"] = request.duration
        return body

    def parse_submit(self, data: Any) -> str:
        return _Submit.model_validate(data).request_id

    def poll_path(self, provider_task_id: str) -> str:
        return f"/{self.app}/requests/{task_segment(provider_task_id)}/status"

    def result_path(self, provider_task_id: str) -> str | None:
        return f"/{self.app}/requests/{task_segment(provider_task_id)}"

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _Status.model_validate(data)
        if wire.error:
            error = read_error(wire.error)
            code = error.code or error.type or (str(wire.error_type) if wire.error_type else None)
            return ProviderStatus(
                ProviderState.FAILED, error_code=code, error_message=error.message, usage=UNBILLED
            )
        if wire.status.strip().lower() in _FAILED:
            return ProviderStatus(
                ProviderState.FAILED, error_message="the render failed", usage=UNBILLED
            )
        if isinstance(wire.response, dict) and "video" in wire.response:
            return self.parse_result(wire.response)  # some answers inline the result
        return provider_status(
            wire.status, progress=None, video_url=None, expires_at=None, error=None
        )

    def parse_result(self, data: Any) -> ProviderStatus:
        if not isinstance(data, dict):
            raise ValueError("the result is not an object")
        if "video" not in data and "detail" in data:
            error = read_detail(data["detail"])
            return ProviderStatus(
                ProviderState.FAILED,
                error_code=error.code,
                error_message=error.message,
                usage=UNBILLED,
            )
        video = data.get("video")
        url = video.get("url") if isinstance(video, dict) else video
        return ProviderStatus(
            ProviderState.SUCCEEDED, 100, url if isinstance(url, str) and url else None
        )

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        return inline_ref(media)


def app_of(model: str) -> str:
    """`owner/app` of a model id (`google/gemini-omni-flash/edit` -> `google/gemini-omni-flash`)."""
    parts = [part for part in model.strip().split("/") if part]
    if len(parts) < 2:
        raise ValueError(f"a fal model id is owner/app, not {model!r}")
    return "/".join(parts[:2])
