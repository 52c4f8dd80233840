"""The vendor's OpenAI-like reference dialect: a flat body, `id` on submit, and `result` (a URL,
an object or a list) on success."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import (
    SubmitContext,
    TaskApi,
    generation_fields,
    provider_status,
)
from bot.domain import VideoRequest
from bot.ports import ProviderStatus


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


class ToapisDialect(TaskApi):
    """The vendor's OpenAI-like reference: a flat body, `id`, and `result` on success."""

    name = "toapis"

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        submit = {"model": ctx.model, **generation_fields(request, ctx)}
        if ctx.callback_url:  # only when VIDEOBOT_CALLBACKS says the gateway takes one
            submit["callback_url"] = ctx.callback_url
        return submit

    def parse_submit(self, data: Any) -> str:
        return _ToapisSubmit.model_validate(data).id

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _ToapisTask.model_validate(data)
        return provider_status(
            wire.status,
            progress=wire.progress,
            video_url=_result_url(wire.result),
            expires_at=wire.expires_at,
            error=wire.error,
        )


def _result_url(result: Any) -> str | None:
    """`result` is a URL, `{"url": ...}`, or a list of either; anything else means no video."""
    if isinstance(result, list):
        result = result[0] if result else None
    if isinstance(result, dict):
        result = result.get("url") or result.get("video_url")
    return result if isinstance(result, str) and result else None
