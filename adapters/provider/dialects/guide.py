"""The model guide page's dialect: `mode` plus a nested `input` object, `task_id` on submit,
`video_url` on success."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import (
    SubmitContext,
    TaskApi,
    generation_fields,
    provider_status,
)
from bot.domain import Mode, VideoRequest
from bot.ports import ProviderStatus


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


class GuideDialect(TaskApi):
    """The model guide page's format: `mode` plus a nested `input` object."""

    name = "guide"
    _MODES = {
        Mode.T2V: "text-to-video",
        Mode.I2V: "image-to-video",
        Mode.R2V: "r2v",
        Mode.EDIT: "video-edit",
    }

    def submit_body(self, request: VideoRequest, ctx: SubmitContext) -> dict[str, Any]:
        body = generation_fields(request, ctx)
        submit = {"model": ctx.model, "mode": self._MODES[request.mode], "input": body}
        if ctx.callback_url:  # only when VIDEOBOT_CALLBACKS says the gateway takes one
            submit["callback_url"] = ctx.callback_url
        return submit

    def parse_submit(self, data: Any) -> str:
        return _GuideSubmit.model_validate(data).task_id

    def parse_status(self, data: Any) -> ProviderStatus:
        wire = _GuideTask.model_validate(data)
        return provider_status(
            wire.status,
            progress=wire.progress,
            video_url=wire.video_url,
            expires_at=wire.expires_at,
            error=wire.error,
        )
