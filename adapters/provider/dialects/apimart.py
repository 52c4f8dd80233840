"""apimart's dialect (docs.apimart.ai, "Gemini Omni Flash Video Generation" and "Get Task
Status"): a flat body whose media decide the mode, answers wrapped in `{"code", "data"}`, a task
array on submit, and the result's URLs with their expiry under `result.videos` on `/v1/tasks`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from adapters.provider.dialects.base import (
    SubmitContext,
    TaskApi,
    Wire,
    inline_ref,
    media_url,
    provider_status,
    read_error,
    task_segment,
)
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ProviderAuthError, ProviderRejected
from bot.ports import ProviderStatus

# apimart's page names the field only as "Previous task ID" (the task_id of the generation to
# edit again); this is its name in the request examples we have. The clip's URL is sent too,
# so a gateway that ignores the name still edits the right video.
PREVIOUS_FIELD = "previous_task_id"


class _Envelope(BaseModel):
    """`{"code": 200, "data": ...}`; some answers arrive unwrapped, some carry only an error."""

    model_config = ConfigDict(extra="ignore")
    code: Any = None
    data: Any = None
    error: Any = None
    message: Any = None
    msg: Any = None


class _Task(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    progress: Any = None
    result: Any = None
    error: Any = None
    fail_reason: Any = None
    expires_at: Any = None


class ApimartDialect(TaskApi):
    """Images are re-hosted on apimart's upload endpoint (its generation API takes no base64
    images); a clip travels as a `data:video/...` URL, which `video_urls` accepts and the image
    upload endpoint does not; an edit of one of its own results also names that task."""

    name = "apimart"

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        body: dict[str, Any] = {"model": ctx.model, "prompt": request.prompt}
        if request.images:
            body["image_urls"] = [media_url(m, ctx) for m in request.images]
        if request.video:
            body["video_urls"] = [media_url(request.video, ctx)]
        if request.previous:
            body[PREVIOUS_FIELD] = request.previous
        if request.mode is not Mode.EDIT:
            # An edit keeps its source's shape: Google refuses both fields on `edit`.
            body["duration"] = request.duration
            body["aspect_ratio"] = request.aspect_ratio
        body["resolution"] = ctx.resolution
        return body

    def parse_submit(self, data: Any) -> str:
        envelope = _Envelope.model_validate(data)
        task = envelope.data
        if isinstance(task, list):
            task = task[0] if task else None
        if isinstance(task, dict) and (found := task.get("task_id") or task.get("id")):
            return str(found)
        _refuse(envelope)  # a 200 that says no, in its own words
        raise ValueError("no task id in the submit answer")

    def poll_path(self, provider_task_id: str) -> str:
        return f"/v1/tasks/{task_segment(provider_task_id)}"

    def parse_status(self, data: Any) -> ProviderStatus:
        envelope = _Envelope.model_validate(data)
        inner = envelope.data if isinstance(envelope.data, dict) else data
        wire = _Task.model_validate(inner)
        url, expires_at = _video(wire.result)
        return provider_status(
            wire.status,
            progress=wire.progress,
            video_url=url,
            expires_at=expires_at or wire.expires_at,
            error=wire.error or wire.fail_reason,
        )

    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        if media.kind == "video":
            return inline_ref(media)
        return await super().stage(media, wire, how)


def _refuse(envelope: _Envelope) -> None:
    """Raise what an in-body refusal means (nothing was created); return for anything else."""
    code = envelope.code
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    if status is None or not 400 <= status < 500:
        return  # a 5xx in the body, or no code: the task may exist, so it stays ambiguous
    error = read_error(envelope.error)
    message = str(error.message or envelope.message or envelope.msg or f"refused ({status})")
    kind = error.type or error.code
    if status in (401, 403):
        raise ProviderAuthError(message, code=kind)
    raise ProviderRejected(message, code=kind)


def _video(result: Any) -> tuple[str | None, Any]:
    """The first video's URL (a URL or a list of them) and its `expires_at`. The status page's
    own example is an image task (`result.images[].url`); a video is read from `videos`, then
    `video`, then any other list of files, or a bare URL or list of URLs."""
    if isinstance(result, dict) and not ("url" in result or "video_url" in result):
        named = [result[key] for key in ("videos", "video") if key in result]
        result = next((v for v in named or result.values() if isinstance(v, list | dict)), None)
    if isinstance(result, list):
        result = result[0] if result else None
    if isinstance(result, dict):
        return _url(result.get("url") or result.get("video_url")), result.get("expires_at")
    return _url(result), None


def _url(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None
