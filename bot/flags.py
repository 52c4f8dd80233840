"""The `/video` options: every spelling of each flag and value, their validation (messages
written for the person who typed them), and the hints a refusal gives."""

from __future__ import annotations

import difflib
import re

from pydantic import BaseModel, ConfigDict, field_validator

from bot.domain import Mode


def _aliases(groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """{canonical: (spellings...)} -> {spelling: canonical}."""
    return {alias: name for name, spellings in groups.items() for alias in (name, *spellings)}


FLAG_ALIASES = _aliases(
    {
        "ar": ("aspect", "aspect-ratio", "aspect_ratio"),
        "duration": ("dur", "seconds"),
        "res": ("resolution",),
        "mode": (),
        "image": ("img",),
        "ref": ("reference",),
        "video": (),
    }
)
REPEATABLE = {"ref"}
MODE_ALIASES = {
    alias: Mode(mode)
    for alias, mode in _aliases(
        {
            "t2v": ("text", "text-to-video"),
            "i2v": ("image", "image-to-video"),
            "r2v": ("ref", "reference", "reference-to-video"),
            "edit": ("video-edit",),
        }
    ).items()
}
AR_ALIASES = _aliases(
    {
        "16:9": ("16x9", "16/9", "landscape", "wide"),
        "9:16": ("9x16", "9/16", "portrait", "vertical", "tall"),
    }
)
# Every resolution a provider sells (bot/providers.py); a profile allows some of them.
RES_ALIASES = _aliases(
    {
        "360p": ("360",),
        "720p": ("720", "hd"),
        "1080p": ("1080", "fhd", "full-hd", "fullhd"),
        "4k": ("2160", "2160p", "uhd"),
    }
)
RES_SHAPE = re.compile(r"\d{3,4}p?|\dk")


class Options(BaseModel):
    """The flags, validated at the edge; messages are written for the person who typed them."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    mode: Mode | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    resolution: str | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: object) -> object:
        if value is None or isinstance(value, Mode):
            return value
        mode = MODE_ALIASES.get(str(value).lower())
        if mode is None:
            raise ValueError(f"Unknown mode “{value}”. Use t2v, i2v, r2v or edit.")
        return mode

    @field_validator("aspect_ratio", mode="before")
    @classmethod
    def _aspect(cls, value: object) -> object:
        if value is None:
            return None
        ratio = AR_ALIASES.get(str(value).lower())
        if ratio is None:
            raise ValueError(f"Unknown aspect ratio “{value}”. Use 16:9 or 9:16.")
        return ratio

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if value is None:
            return None
        text = str(value).lower().removesuffix("s").removesuffix("sec").strip()
        if not text.isdigit():
            raise ValueError(
                f"The duration is a whole number of seconds, not “{value}”. Use e.g. --duration 6."
            )
        return int(text)

    @field_validator("resolution", mode="before")
    @classmethod
    def _resolution(cls, value: object) -> object:
        if value is None:
            return None
        text = str(value).strip().lower()
        resolution = RES_ALIASES.get(text)
        if resolution is None and RES_SHAPE.fullmatch(text):
            # Shaped like a resolution (480p, 8k): the provider's profile says whether it
            # offers it, with its own list (bot/checks.py), not a list of every provider's.
            resolution = text if text[-1] in "pk" else f"{text}p"
        if resolution is None:
            raise ValueError(f"Unknown resolution “{value}”. Give it like 720p, 1080p or 4k.")
        return resolution


FLAG_HINTS = {
    "ar": "Use --ar 16:9 or --ar 9:16.",
    "duration": "Use e.g. --duration 6.",
    "res": "Use e.g. --res 1080p.",
    "mode": "Use --mode t2v, i2v, r2v or edit.",
    "image": "Give an image, e.g. --image ./cat.png.",
    "ref": "Give a reference image, e.g. --ref ./a.png (repeat for more).",
    "video": "Give a clip, e.g. --video ./clip.mp4.",
}


def unknown_flag(name: str) -> str:
    known = sorted({f"--{k}" for k in FLAG_ALIASES})
    close = difflib.get_close_matches(f"--{name}", known, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    options = "--ar, --duration, --res, --mode, --image, --ref, --video"
    return f"Unknown option --{name}.{hint} Options: {options}."
