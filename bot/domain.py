"""Plain, immutable value types: what a video request is, where its answer goes, the task
states and what the configured gateway accepts. The Task itself, with its transitions, is in
bot/task.py."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal


class Mode(StrEnum):
    T2V = "t2v"
    I2V = "i2v"
    R2V = "r2v"
    EDIT = "edit"

    @property
    def label(self) -> str:
        return _MODE_LABELS[self]


_MODE_LABELS = {
    Mode.T2V: "text-to-video",
    Mode.I2V: "image-to-video",
    Mode.R2V: "reference-to-video",
    Mode.EDIT: "video edit",
}


class TaskState(StrEnum):
    ACCEPTED = "accepted"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    FAILED = "failed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_live(self) -> bool:
        return self in LIVE_STATES

    @property
    def is_terminal(self) -> bool:
        return self not in LIVE_STATES


LIVE_STATES = frozenset(
    {
        TaskState.ACCEPTED,
        TaskState.SUBMITTING,
        TaskState.SUBMITTED,
        TaskState.RUNNING,
        TaskState.SUCCEEDED,
        TaskState.DELIVERING,
    }
)
# The provider holds a task in these states: polling is what moves them.
RENDERING_STATES = frozenset({TaskState.SUBMITTED, TaskState.RUNNING})
# What takes one of the provider's render slots (VIDEOBOT_PROVIDER_CONCURRENCY).
AT_PROVIDER_STATES = frozenset({TaskState.SUBMITTING, *RENDERING_STATES})


MediaKind = Literal["image", "video"]


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A user's image or clip, already downloaded into our media store at intake.

    `url` is where the provider can fetch it, filled in when the worker stages it."""

    kind: MediaKind
    path: str
    sha256: str
    mime: str
    size: int
    name: str = ""
    url: str | None = None


DM_WORKSPACE = "@me"  # a Discord DM's workspace_id (Discord's own path for "no guild")


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """A durable address for answers: ids only, never a short-lived reply handle."""

    platform: str
    workspace_id: str
    channel_id: str
    user_id: str
    thread_id: str | None = None
    user_name: str = ""
    # Slack Enterprise Grid: the organization an installation may be recorded under (a bot
    # token is found by enterprise and workspace together); None everywhere else.
    enterprise_id: str | None = None

    @property
    def user_key(self) -> str:
        """The person, for caps, budgets and ownership: one key wherever they ask. Discord
        user ids are global (`discord:<user>`, the same in every server and in DMs); a Slack
        user id is unique within a workspace, and within an Enterprise Grid organization
        across its workspaces (`slack:<enterprise or workspace>:<user>`)."""
        if self.platform == "discord":
            return f"discord:{self.user_id}"
        if self.platform == "slack" and self.enterprise_id:
            return f"slack:{self.enterprise_id}:{self.user_id}"
        return f"{self.platform}:{self.workspace_id}:{self.user_id}"

    @property
    def workspace_key(self) -> str:
        return f"{self.platform}:{self.workspace_id}"

    @property
    def in_workspace(self) -> bool:
        """False for a Discord direct message: it belongs to no server, so no workspace
        budget holds it (the person's own budgets still do)."""
        return not (self.platform == "discord" and self.workspace_id == DM_WORKSPACE)

    @property
    def channel_key(self) -> str:
        return f"{self.platform}:{self.channel_id}"


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """A valid request (checks.build_request checked it against the provider profile)."""

    prompt: str
    mode: Mode
    aspect_ratio: str
    duration: int
    images: tuple[MediaRef, ...] = ()
    video: MediaRef | None = None
    resolution: str | None = None  # None: the profile's default
    # "Edit this video" on a provider that keeps its results (Google's previous_interaction_id):
    # the provider's id of the task whose result is edited; `video` is then the fallback clip.
    previous: str | None = None

    @property
    def media(self) -> tuple[MediaRef, ...]:
        return (*self.images, self.video) if self.video else self.images

    def with_media(self, media: tuple[MediaRef, ...]) -> VideoRequest:
        """The same request with `media` (same order as `self.media`), e.g. once staged."""
        images = media[: len(self.images)]
        video = media[len(self.images)] if self.video else None
        return replace(self, images=images, video=video)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the configured provider accepts; the grammar, the checks, the help and the forms
    read it (bot/providers.py has one per provider, each value overridable by a setting)."""

    durations: tuple[int, ...] = (6, 10)
    default_duration: int = 6
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    default_aspect_ratio: str = "16:9"
    resolutions: tuple[str, ...] = ("720p",)
    default_resolution: str = "720p"
    modes: frozenset[Mode] = frozenset(Mode)
    provider: str = ""  # the provider's name as users read it ("Google Gemini API")
    clip_uploads: bool = True  # False: edits only of the bot's own results ("Edit this video")
    edit_keeps_clip: bool = False  # True: an edit keeps the clip's shape and length
    max_reference_images: int = 4
    image_counts: tuple[int, ...] | None = None  # gateways that allow e.g. only 0, 1 or 3
    prompt_max_chars: int = 2000
    edit_max_seconds: float = 10.0


# Crockford's base32 without I, L, O, U: easy to read aloud and to type back.
_REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ref() -> str:
    """A short task reference users type back (`status 7KQ2MX`): 30 random bits."""
    bits = int.from_bytes(secrets.token_bytes(4), "big") >> 2
    return "".join(_REF_ALPHABET[(bits >> shift) & 31] for shift in range(25, -1, -5))


def new_task_id() -> str:
    return uuid.uuid4().hex
