"""Google's Gemini API, Interactions: one interaction per render (`background: true`), the task
in `generation_config.video_config`, the shape in `response_format`; images inline while they
are small (else through the Files API), a clip to edit always through the Files API, and "Edit
this video" as `previous_interaction_id` (Google keeps the result: nothing is uploaded)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import (
    INLINE,
    SubmitContext,
    Wire,
    inline_ref,
    task_segment,
)
from adapters.provider.dialects.interaction import read_interaction
from adapters.provider.files import FileWait, upload
from adapters.provider.spill import MARKER
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ProviderError, ProviderRejected
from bot.ports import ProviderStatus

TASKS = {
    Mode.T2V: "text_to_video",
    Mode.I2V: "image_to_video",
    Mode.R2V: "reference_to_video",
    Mode.EDIT: "edit",
}
# Google takes at most 20 MB in one request. An image up to 1 MiB travels inline (ten of
# them stay near 13 MB once base64-encoded); a bigger one goes through the Files API.
REQUEST_MAX = 20 * 1000 * 1000
INLINE_IMAGE_MAX = 1 << 20


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str = Field(min_length=1)


class GoogleDialect:
    """The Gemini API (`x-goog-api-key`, paths under /v1beta)."""

    name = "google"
    title = "Google"
    inline_results = True  # a poll answer may carry the video as base64: stream it to disk
    # Above 4 MB Google advises a link to the result (the inline answer is read all the same).
    delivery: str | None = "uri"

    def __init__(self, wait: FileWait | None = None) -> None:
        self._wait = wait or FileWait()

    def collection(self) -> str:
        return "/v1beta/interactions"

    # -- submit --------------------------------------------------------------------------------
    def submit_path(self, request: VideoRequest, ctx: SubmitContext) -> str:
        return self.collection()

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        body: dict[str, Any] = {"model": ctx.model, "background": True, "store": True}
        task = "edit" if request.previous else TASKS[request.mode]
        if request.previous:
            # The result being edited lives on at Google: continue from it, with the scene.
            body["previous_interaction_id"] = request.previous
            body["input"] = request.prompt
        else:
            parts = [self._part(m, ctx) for m in request.media]
            text = {"type": "text", "text": request.prompt}
            body["input"] = [*parts, text] if parts else request.prompt
        shape: dict[str, Any] = {"type": "video", "resolution": ctx.resolution}
        if task != "edit":  # an edit keeps its clip's length and shape: Google refuses both
            shape["aspect_ratio"] = request.aspect_ratio
            shape["duration"] = f"{request.duration}s"  # a bare number is refused
        if self.delivery:
            shape["delivery"] = self.delivery
        body["generation_config"] = {"video_config": {"task": task}}
        body["response_format"] = shape
        if ctx.callback_url:
            body["webhook_config"] = {"uris": [ctx.callback_url]}
        inline = sum(len(ctx.inline.get(m.url or "", "")) for m in request.media)
        if inline > REQUEST_MAX:
            raise ProviderRejected(
                f"the media are too large to send together ({inline / 1e6:.0f} MB once "
                f"encoded; {self.title} takes {REQUEST_MAX // 1_000_000} MB per request): "
                "send fewer or smaller files",
                code="too_large",
            )
        return body

    def _part(self, media: MediaRef, ctx: SubmitContext) -> dict[str, Any]:
        url = media.url
        if not url:
            raise ValueError("media must be staged (have URLs) before submit")
        if url.startswith(INLINE):
            return {"type": media.kind, "data": ctx.inline[url], "mime_type": media.mime}
        if url.startswith(MARKER):
            raise ProviderRejected(
                "the video to edit is no longer held here; make it again, or send the clip",
                code="clip_gone",
            )
        return {"type": media.kind, "uri": file_uri(url), "mime_type": media.mime}

    def parse_submit(self, data: Any) -> str:
        return _Created.model_validate(data).id

    # -- poll ----------------------------------------------------------------------------------
    def poll_path(self, provider_task_id: str) -> str:
        return f"{self.collection()}/{task_segment(provider_task_id)}"

    def parse_status(self, data: Any) -> ProviderStatus:
        return read_interaction(data)

    def result_path(self, provider_task_id: str) -> str | None:
        return None

    def parse_result(self, data: Any) -> ProviderStatus:
        raise ValueError("an interaction's poll answer carries its result")

    # -- media ---------------------------------------------------------------------------------
    async def stage(self, media: MediaRef, wire: Wire, how: str) -> str:
        """A small image travels inline; anything bigger, and every clip, is uploaded through
        the Files API and used once ACTIVE (`how == "files"` sends images that way too)."""
        if how != "files" and media.kind == "image" and 0 < media.size <= INLINE_IMAGE_MAX:
            return inline_ref(media)
        if not media.path:
            raise ProviderError("this medium has no file to upload")
        return await upload(wire, media, self._wait)


def file_uri(url: str) -> str:
    """A Gemini result's download link (`.../files/abc:download?alt=media`) names the file
    `.../files/abc`, which is what an input part takes; other links pass unchanged."""
    parts = urlsplit(url)
    path = parts.path
    if "/files/" in path and path.endswith(":download"):
        return urlunsplit((parts.scheme, parts.netloc, path.removesuffix(":download"), "", ""))
    return url
