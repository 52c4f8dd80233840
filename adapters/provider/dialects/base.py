"""Wire formats ("dialects") of the gateways that serve the video model. Each dialect maps our
VideoRequest to a submit body and a poll answer to a ProviderStatus; another gateway is one more
small class here. Wire JSON is validated with pydantic at this boundary."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Mode, VideoRequest
from bot.ports import ProviderState, ProviderStatus

_STATES = {
    "queued": ProviderState.QUEUED,
    "pending": ProviderState.QUEUED,
    "submitted": ProviderState.QUEUED,
    "waiting": ProviderState.QUEUED,
    "running": ProviderState.RUNNING,
    "processing": ProviderState.RUNNING,
    "in_progress": ProviderState.RUNNING,
    "generating": ProviderState.RUNNING,
    "completed": ProviderState.SUCCEEDED,
    "succeeded": ProviderState.SUCCEEDED,
    "success": ProviderState.SUCCEEDED,
    "failed": ProviderState.FAILED,
    "failure": ProviderState.FAILED,
    "error": ProviderState.FAILED,
    "cancelled": ProviderState.CANCELLED,
    "canceled": ProviderState.CANCELLED,
    "expired": ProviderState.EXPIRED,
}


class WireError(BaseModel):
    # Some gateways send numeric codes (`"code": 500`): keep them as text, do not fail the poll.
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    code: str | None = None
    type: str | None = None
    message: str | None = None


def parse_time(value: Any) -> datetime | None:
    """Gateways send ISO-8601 strings or unix seconds; both become aware UTC datetimes."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            return None
        if seconds > 1e11:  # milliseconds since the epoch (year 5138 in seconds)
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _state(raw: str) -> ProviderState:
    return _STATES.get(raw.strip().lower(), ProviderState.RUNNING)


def _progress(value: Any) -> int | None:
    """0-100, or None when unknown. Fractions (0.42) become percentages; "42%" is read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if 0 < number < 1:
        number *= 100  # a fraction rather than a percentage
    return max(0, min(100, round(number)))


def _error(value: Any) -> WireError:
    if isinstance(value, dict):
        return WireError.model_validate(value)
    if value:
        return WireError(message=str(value))
    return WireError()


class Dialect(Protocol):
    name: str
    submit_path: str

    def submit_body(self, request: VideoRequest, model: str, resolution: str) -> dict[str, Any]: ...

    def parse_submit(self, data: Any) -> str: ...

    def poll_path(self, provider_task_id: str) -> str: ...

    def parse_status(self, data: Any) -> ProviderStatus: ...


def _media_urls(request: VideoRequest) -> tuple[list[str], str | None]:
    images = [m.url for m in request.images if m.url]
    video = request.video.url if request.video else None
    if len(images) != len(request.images) or (request.video and not video):
        raise ValueError("media must be staged (have URLs) before submit")
    return images, video


class _GuideSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    task_id: str = Field(min_length=1)


class _GuideTask(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task_id: str | None = None
    status: str
    progress: Any = None
    video_url: str | None = None
    expires_at: Any = None
    error: Any = None


class _TaskApi:
    """Both published dialects submit to and poll the same collection path."""

    submit_path = "/v1/videos/generations"

    def poll_path(self, provider_task_id: str) -> str:
        return f"{self.submit_path}/{provider_task_id}"


class GuideDialect(_TaskApi):
    """The model guide page's format: `mode` plus a nested `input` object."""

    name = "guide"
    _MODES = {
        Mode.T2V: "text-to-video",
        Mode.I2V: "image-to-video",
        Mode.R2V: "r2v",
        Mode.EDIT: "video-edit",
    }

    def submit_body(self, request: VideoRequest, model: str, resolution: str) -> dict[str, Any]:
        images, video = _media_urls(request)
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "duration": request.duration,
            "aspect_ratio": request.aspect_ratio,
            "resolution": resolution,
        }
        if images:
            body["image_urls"] = images
        if video:
            body["video_url"] = video
        return {"model": model, "mode": self._MODES[request.mode], "input": body}

    def parse_submit(self, data: Any) -> str:
        return _GuideSubmit.model_validate(data).task_id

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _GuideTask.model_validate(data)
        error = _error(wire.error)
        return ProviderStatus(
            state=_state(wire.status),
            progress=_progress(wire.progress),
            video_url=wire.video_url,
            expires_at=parse_time(wire.expires_at),
            error_code=error.code or error.type,
            error_message=error.message,
        )


class _ToapisSubmit(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str = Field(min_length=1)


class _ToapisTask(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    status: str
    progress: Any = None
    result: Any = None
    expires_at: Any = None
    error: Any = None


class ToapisDialect(_TaskApi):
    """The vendor's OpenAI-like reference: a flat body, `id`, and `result` on success."""

    name = "toapis"

    def submit_body(self, request: VideoRequest, model: str, resolution: str) -> dict[str, Any]:
        images, video = _media_urls(request)
        body: dict[str, Any] = {
            "model": model,
            "prompt": request.prompt,
            "duration": request.duration,
            "aspect_ratio": request.aspect_ratio,
            "resolution": resolution,
        }
        if images:
            body["image_urls"] = images
        if video:
            body["video_url"] = video
        return body

    def parse_submit(self, data: Any) -> str:
        return _ToapisSubmit.model_validate(data).id

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _ToapisTask.model_validate(data)
        error = _error(wire.error)
        return ProviderStatus(
            state=_state(wire.status),
            progress=_progress(wire.progress),
            video_url=_result_url(wire.result),
            expires_at=parse_time(wire.expires_at),
            error_code=error.code or error.type,
            error_message=error.message,
        )


def _result_url(result: Any) -> str | None:
    """`result` is a URL, `{"url": ...}`, or a list of either; anything else means no video."""
    if isinstance(result, list):
        result = result[0] if result else None
    if isinstance(result, dict):
        result = result.get("url") or result.get("video_url")
    return result if isinstance(result, str) and result else None


DIALECTS: dict[str, Dialect] = {"guide": GuideDialect(), "toapis": ToapisDialect()}
