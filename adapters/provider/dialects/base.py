"""What every dialect shares: the `Dialect` contract (our VideoRequest to a submit request, a
poll answer to a ProviderStatus, a user's media to something the provider can read), the
defaults most gateways keep (`TaskApi`), and the readers of the loose fields gateways send
(state names, progress, times, error objects). Wire JSON is validated with pydantic here."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict

from bot.domain import MediaRef, VideoRequest
from bot.errors import ProviderError
from bot.ports import ProviderState, ProviderStatus

_STATES = {
    "queued": ProviderState.QUEUED,
    "pending": ProviderState.QUEUED,
    "submitted": ProviderState.QUEUED,
    "waiting": ProviderState.QUEUED,
    "in_queue": ProviderState.QUEUED,  # fal's IN_QUEUE
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


def read_detail(detail: Any) -> WireError:
    """fal's `detail`: a sentence, or a list of `{loc, msg, type}` (validation errors and
    content refusals), read as one error: the messages joined, the first type its code."""
    items = detail if isinstance(detail, list) else [detail]
    messages = [
        str(i.get("msg") or i.get("message") or "") if isinstance(i, dict) else str(i)
        for i in items
        if i
    ]
    kinds = [str(i["type"]) for i in items if isinstance(i, dict) and i.get("type")]
    return WireError(
        code=kinds[0] if kinds else None, message="; ".join(m for m in messages if m) or None
    )


@dataclass(frozen=True, slots=True)
class SubmitContext:
    """What a submit body needs besides the request: the model id, the resolution (the
    request's own or the profile's default, canonical lowercase: `720p`), the URL providers
    should call back (None: no callbacks), and the base64 text of every medium staged
    `inline:` (keyed by that staged URL) for dialects that carry media in the request."""

    model: str
    resolution: str = "720p"
    callback_url: str | None = None
    inline: Mapping[str, str] = field(default_factory=dict)

    def data_uri(self, media: MediaRef) -> str:
        """An inline medium as a `data:` URL (gateways that take URLs accept these)."""
        return f"data:{media.mime};base64,{self.inline[media.url or '']}"


class Wire(Protocol):
    """The provider's HTTP side as a dialect sees it when it must talk (staging media): every
    request under the client's retry policy, auth and redaction."""

    upload_path: str

    async def request(
        self, operation: str, method: str, path: str, *, idempotent: bool, **options: Any
    ) -> httpx.Response: ...

    def body(self, response: httpx.Response) -> dict[str, Any]: ...

    def hide(self, url: str) -> str: ...


class Dialect(Protocol):
    """One wire format. Pure mappings, except `stage`, which may talk through `wire`."""

    name: str

    def submit_path(self, request: VideoRequest, ctx: SubmitContext) -> str: ...

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]: ...

    def parse_submit(self, data: Any) -> str: ...

    def poll_path(self, provider_task_id: str) -> str: ...

    def parse_status(self, data: Any) -> ProviderStatus: ...

    def result_path(self, provider_task_id: str) -> str | None:
        """A further GET that holds the result once a poll said `succeeded` without one
        (fal's response_url); None when the poll answer carries it."""
        ...

    def parse_result(self, data: Any) -> ProviderStatus: ...

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        """Make `media` reachable by the provider; `how` is the profile's media setting
        (`upload`, `inline`, `files`). Returns the URL (or `inline:<sha256>`) to store."""
        ...


def inline_ref(media: MediaRef) -> str:
    """The staged URL of a medium that travels in the request itself."""
    return f"{INLINE}{media.sha256}"


INLINE = "inline:"


class TaskApi:
    """Defaults every dialect may keep: both published dialects submit to and poll the same
    collection path; the poll answer carries the result; media is re-hosted on the gateway's
    upload endpoint (`upload`) or carried in the request (`inline`)."""

    submit_route = "/v1/videos/generations"

    def submit_path(self, request: VideoRequest, ctx: SubmitContext) -> str:
        return self.submit_route

    def poll_path(self, provider_task_id: str) -> str:
        return f"{self.submit_route}/{task_segment(provider_task_id)}"

    def result_path(self, provider_task_id: str) -> str | None:
        return None

    def parse_result(self, data: Any) -> ProviderStatus:
        raise ValueError(f"{type(self).__name__} has no separate result answer")

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        if how != "upload":
            return inline_ref(media)
        data = await asyncio.to_thread(Path(media.path).read_bytes)
        files = {"file": (media.name or Path(media.path).name, data, media.mime)}
        response = await wire.request(
            "stage", "POST", wire.upload_path, files=files, idempotent=True
        )
        body = wire.body(response)
        url = body.get("url") or (body.get("data") or {}).get("url")
        if not url:
            raise ProviderError("the upload endpoint answered without a URL")
        return wire.hide(str(url))  # a link carrying a credential is stored redacted


def generation_fields(request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
    """What both published dialects send about the video itself (one nests it in `input`):
    the prompt, its shape, and the staged media's URLs (inline media as `data:` URLs)."""
    images = [media_url(m, ctx) for m in request.images]
    video = media_url(request.video, ctx) if request.video else None
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "resolution": ctx.resolution.upper(),
    }
    if images:
        fields["image_urls"] = images
    if video:
        fields["video_url"] = video
    return fields


def media_url(media: MediaRef, ctx: SubmitContext) -> str:
    """The URL a gateway fetches `media` from: its staged URL, or a `data:` URL when it
    travels inline. Raises ValueError for media not staged yet."""
    if not media.url:
        raise ValueError("media must be staged (have URLs) before submit")
    return ctx.data_uri(media) if media.url.startswith(INLINE) else media.url


def task_segment(provider_task_id: str) -> str:
    """A provider's task id as one path segment: `/`, `?`, `#`, spaces and control characters
    percent-encoded, and a bare `.` or `..` too (an HTTP client would resolve them as dot
    segments and poll the collection or its parent instead of the task)."""
    segment = quote(provider_task_id, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment
