"""What every dialect shares: the `Dialect` contract (our VideoRequest to a submit body, a poll
answer to a ProviderStatus) and the readers of the loose fields gateways send (state names,
progress, times, error objects). Wire JSON is validated with pydantic at this boundary."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from bot.domain import VideoRequest
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


def read_state(raw: str) -> ProviderState:
    """The canonical state for a status name; UNKNOWN for a name no dialect has used yet."""
    return _STATES.get(raw.strip().lower(), ProviderState.UNKNOWN)


def provider_status(
    raw_state: str,
    *,
    progress: Any,
    video_url: str | None,
    expires_at: Any,
    error: Any,
) -> ProviderStatus:
    """A poll answer as a ProviderStatus. A status name we do not know is not "still running":
    an answer that looks final (an error object, a result URL) is read as what it looks like,
    and only an answer with nothing final in it stays UNKNOWN (the worker keeps polling)."""
    state = read_state(raw_state)
    wire_error = read_error(error)
    failed = bool(wire_error.code or wire_error.type or wire_error.message)
    if state is ProviderState.UNKNOWN and failed:
        state = ProviderState.FAILED
    elif state is ProviderState.UNKNOWN and video_url:
        state = ProviderState.SUCCEEDED
    return ProviderStatus(
        state=state,
        progress=read_progress(progress),
        video_url=video_url,
        expires_at=parse_time(expires_at),
        error_code=wire_error.code or wire_error.type,
        error_message=wire_error.message,
        raw_state=raw_state if state is ProviderState.UNKNOWN else None,
    )


def read_progress(value: Any) -> int | None:
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


def read_error(value: Any) -> WireError:
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


def generation_fields(request: VideoRequest, resolution: str) -> dict[str, Any]:
    """What both published dialects send about the video itself (one nests it in `input`):
    the prompt, its shape, and the staged media's URLs."""
    images = [m.url for m in request.images if m.url]
    video = request.video.url if request.video else None
    if len(images) != len(request.images) or (request.video and not video):
        raise ValueError("media must be staged (have URLs) before submit")
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": resolution,
    }
    if images:
        fields["image_urls"] = images
    if video:
        fields["video_url"] = video
    return fields


class TaskApi:
    """Both published dialects submit to and poll the same collection path."""

    submit_path = "/v1/videos/generations"

    def poll_path(self, provider_task_id: str) -> str:
        return f"{self.submit_path}/{task_segment(provider_task_id)}"


def task_segment(provider_task_id: str) -> str:
    """A provider's task id as one path segment: `/`, `?`, `#`, spaces and control characters
    percent-encoded, and a bare `.` or `..` too (an HTTP client would resolve them as dot
    segments and poll the collection or its parent instead of the task)."""
    segment = quote(provider_task_id, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment
