"""What a media file is, judged by its first bytes (magic numbers), never by its name or
Content-Type, and the size limits intake applies."""

from __future__ import annotations

from dataclasses import dataclass

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: str  # image | video
    mime: str
    ext: str


def sniff(head: bytes) -> Sniffed | None:
    """PNG, JPEG, WebP images and MP4/QuickTime (ISO-BMFF) video; anything else is None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", "png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", "jpg")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image", "image/webp", "webp")
    if head[4:8] == b"ftyp":
        return Sniffed("video", "video/mp4", "mp4")
    return None


ACCEPTED = "PNG, JPEG or WebP images, or an MP4 clip"
