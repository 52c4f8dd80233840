"""Reading Google's interaction object (the Gemini API and Vertex AI answer alike): its status,
the video in the `model_output` step (a `uri`, or inline base64 `data`: both are seen), the
model's own words when it made no video, and `errors`. No progress is ever given."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.provider.dialects.base import WireError, provider_status, read_error
from adapters.provider.spill import MARKER
from bot import pricing
from bot.ports import ProviderState, ProviderStatus

# Statuses that end a task without a video, and what to tell the user when no error says more.
ENDED = {
    "requires_action": (
        "requires_action",
        "the video service stopped to ask for an action videobot cannot take; try again",
    ),
    "incomplete": (
        "incomplete",
        "the video service ended the render incomplete, without a video; try again",
    ),
    "budget_exceeded": (
        "budget_exceeded",
        "the Google project's spending budget is used up; an operator must raise it "
        "before more videos can be made",
    ),
}
_RUNNING = {"queued": ProviderState.QUEUED, "in_progress": ProviderState.RUNNING}
_RATE_CODES = {"too_many_requests", "rate_limit_exceeded", "resource_exhausted", "429"}


class Part(BaseModel):
    """One content item: text, or a video given by `uri` or inline base64 `data`."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    type: str | None = None
    text: str | None = None
    data: str | None = None
    uri: str | None = None
    mime_type: str | None = Field(None, alias="mimeType")


class Step(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str | None = None
    content: list[Part] | Part | None = None

    def parts(self) -> list[Part]:
        if self.content is None:
            return []
        return self.content if isinstance(self.content, list) else [self.content]


class ModalityTokens(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    modality: str | None = None
    tokens: int | None = None


class Usage(BaseModel):
    """What the render cost in tokens (5,792 per second of 720p video); kept for reporting."""

    model_config = ConfigDict(extra="ignore")
    total_output_tokens: int | None = None
    output_tokens_by_modality: list[ModalityTokens] = []

    @property
    def video_tokens(self) -> int | None:
        found = [m.tokens for m in self.output_tokens_by_modality if m.modality == "video"]
        return found[0] if found else None


class Interaction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str | None = None
    status: str
    steps: list[Step] = []
    outputs: list[Part] = []  # the older shape: the outputs without steps
    errors: list[Any] = []
    error: Any = None
    usage: Usage | None = None

    def output(self) -> list[Part]:
        produced = [p for s in self.steps if s.type == "model_output" for p in s.parts()]
        return produced or self.outputs

    def first_error(self) -> WireError:
        for candidate in (*self.errors, self.error):
            found = read_error(candidate)
            if found.code or found.type or found.message:
                return found
        return WireError()


def read_interaction(data: Any) -> ProviderStatus:
    """The canonical status of an interaction answer. Raises ValueError for one without a
    status (the client reads that as an unreadable answer and polls again)."""
    wire = Interaction.model_validate(data)
    raw = wire.status.strip().lower()
    error = wire.first_error()
    video = video_of(wire.output())
    # Google bills the output video tokens it reports; a render that ended without any was
    # not billed.
    tokens = wire.usage.video_tokens if wire.usage else None
    usage = None if tokens is None else pricing.Usage(video_tokens=tokens, billed=bool(tokens))
    if raw == "completed":
        if video:
            return ProviderStatus(ProviderState.SUCCEEDED, video_url=video, usage=usage)
        # A safety refusal has been seen as `completed` with only text: a failure in the
        # model's own words, never a success without a video.
        words = " ".join(p.text.strip() for p in wire.output() if p.text and p.text.strip())
        return ProviderStatus(
            ProviderState.FAILED,
            error_code=error.code or "no_video",
            error_message=words or error.message or "the video service finished without a video",
            usage=usage,
        )
    if raw in _RUNNING:
        return ProviderStatus(_RUNNING[raw])
    if raw == "failed":
        return ProviderStatus(
            ProviderState.FAILED,
            error_code=error.code or error.type,
            error_message=_failure_text(error),
            usage=usage,
        )
    if raw in ENDED:
        code, text = ENDED[raw]
        return ProviderStatus(
            ProviderState.FAILED,
            error_code=code,
            error_message=f"{text} ({error.message})" if error.message else text,
        )
    return provider_status(
        wire.status, progress=None, video_url=video, expires_at=None, error=error.model_dump()
    )


def video_of(parts: list[Part]) -> str | None:
    """The video's `uri`; else its inline data, as the spill marker the client left in its
    place or, when short enough to arrive whole, a `data:` URL the client writes to a file."""
    for part in parts:
        is_video = part.type == "video" or (part.mime_type or "").startswith("video/")
        if not is_video:
            continue
        if part.uri:
            return part.uri
        if part.data and part.data.startswith(MARKER):
            return part.data
        if part.data:
            return f"data:{part.mime_type or 'video/mp4'};base64,{part.data}"
    return None


def _failure_text(error: WireError) -> str:
    message = error.message or "the render failed"
    if (error.code or "").lower() in _RATE_CODES:
        # Past a rate cap Google still answers the submit with an id; the refusal comes here.
        return f"{message} (Google refused to start it: too many requests; retry in a minute)"
    return message
