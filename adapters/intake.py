"""Media intake: bytes a user supplied (a local file, a Slack or Discord attachment) are checked
by magic bytes, decoded under limits (Pillow for images, PyAV for a clip's real duration) and
stored content-addressed, so a task keeps its inputs even after a platform's URL expires."""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from pathlib import Path

import av
from PIL import Image

from bot.domain import MediaRef, Profile
from bot.errors import MediaError
from bot.media import ACCEPTED, MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, sniff

MAX_PIXELS = 40_000_000


class MediaIntake:
    def __init__(self, root: Path, profile: Profile) -> None:
        self._root = root
        self._profile = profile

    async def from_path(self, path: Path) -> MediaRef:
        return await asyncio.to_thread(self._read, path)

    def _read(self, path: Path) -> MediaRef:
        path = path.expanduser()
        if not path.is_file():
            raise MediaError(f"No file at {path}. Give the path of a PNG, JPEG, WebP or MP4 file.")
        if path.stat().st_size > MAX_VIDEO_BYTES:
            raise MediaError(f"{path.name} is larger than {MAX_VIDEO_BYTES >> 20} MB.")
        return self._store(path.read_bytes(), path.name)

    async def from_bytes(self, data: bytes, name: str) -> MediaRef:
        return await asyncio.to_thread(self._store, data, name)

    def _store(self, data: bytes, name: str) -> MediaRef:
        kind = sniff(data[:16])
        if kind is None:
            raise MediaError(f"{name or 'That file'} is not something I can use: send {ACCEPTED}.")
        limit = MAX_IMAGE_BYTES if kind.kind == "image" else MAX_VIDEO_BYTES
        if len(data) > limit:
            raise MediaError(
                f"{name} is {len(data) >> 20} MB; {kind.kind}s can be at most {limit >> 20} MB."
            )
        if kind.kind == "image":
            _check_image(data, name)
        else:
            _check_clip(data, name, self._profile.edit_max_seconds)
        digest = hashlib.sha256(data).hexdigest()
        self._root.mkdir(parents=True, exist_ok=True)
        path = self._root / f"{digest}.{kind.ext}"
        if not path.exists():
            temp = path.with_suffix(".part")
            temp.write_bytes(data)
            temp.replace(path)
        return MediaRef(
            kind="image" if kind.kind == "image" else "video",
            path=str(path),
            sha256=digest,
            mime=kind.mime,
            size=len(data),
            name=name,
        )


def _check_image(data: bytes, name: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "WEBP"]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise MediaError(f"{name} is {width}x{height}; at most 40 megapixels please.")
                image.verify()
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(f"{name} is far too large in pixels to use.") from None
    except Exception:  # Pillow raises many types for a broken file
        raise MediaError(f"{name} looks like an image but cannot be decoded.") from None


def clip_seconds(data: bytes) -> float:
    """The clip's duration from its container (PyAV), in seconds."""
    with av.open(io.BytesIO(data), mode="r") as container:
        if container.duration is not None:
            return float(container.duration) / 1_000_000
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
    raise ValueError("no duration")


def _check_clip(data: bytes, name: str, max_seconds: float) -> None:
    try:
        seconds = clip_seconds(data)
    except Exception:  # PyAV raises its own error tree for damaged files
        raise MediaError(f"{name} looks like an MP4 but cannot be read.") from None
    if seconds > max_seconds + 0.05:
        raise MediaError(
            f"{name} is {seconds:.1f}s long; video edit takes clips of at most {max_seconds:g}s. "
            "Trim it and send it again."
        )
