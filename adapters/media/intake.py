"""Media intake: bytes a user supplied (a local file, a Slack or Discord attachment) are checked
and cleaned before anything else sees them, then stored content-addressed, so a task keeps its
inputs even after a platform's URL expires.

- The kind comes from the magic bytes (bot.media.sniff), never from the name or a Content-Type.
- Images: Pillow opens them restricted to PNG, JPEG and WebP, its decompression-bomb guard on,
  and the pixel count is capped from the header before any pixel is decoded. The whole image is
  then decoded (a file that only starts like a PNG is refused) and re-encoded from its pixels,
  turned upright per its EXIF orientation: EXIF (GPS, camera serials), XMP, comments, text
  chunks, extra frames and anything appended after the image are gone from what we store and
  later send upstream. Only a small ICC colour profile is kept.
- Clips: PyAV opens them with the MP4/QuickTime demuxer only (no probing into other formats, no
  playlists, no network), the duration is read from the container and its streams and checked
  against the real packets, one frame must decode, and the frame size is capped. The clip is then
  remuxed (stream copy, no re-encoding) without its metadata (location, device) or trailing data.

Every refusal is a MediaError whose text says what was wrong and what is accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageOps

from adapters.media.names import display_name, display_path
from bot.domain import MediaRef, Profile
from bot.errors import MediaError
from bot.media import ACCEPTED, MAX_IMAGE_BYTES, MAX_VIDEO_BYTES, Sniffed, sniff

MAX_PIXELS = 40_000_000  # per image; checked from the header, before decoding
MAX_VIDEO_SIDE = 4096  # per clip frame side
MAX_ICC_BYTES = 64 * 1024
_IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}
_STILL_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
)
_FORMAT_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
_DURATION_SLACK = 0.05  # encoders pad audio by a few ms; "10 s" means 10.05 at most
_ACCEPTED_IMAGES = "PNG, JPEG or WebP images of at most 40 megapixels"


@dataclass(frozen=True, slots=True)
class _Clean:
    data: bytes
    kind: Sniffed


class MediaIntake:
    def __init__(self, root: Path, profile: Profile) -> None:
        self._root = root
        self._profile = profile
        # Files this intake wrote that no request has sent again since: a refused request's
        # are deleted at once (adapters/media/batch.py); one sent again is left to retention.
        self._fresh: set[str] = set()

    async def from_path(self, path: str | Path) -> MediaRef:
        """A local file; `path` as the user typed it (messages quote it back unchanged)."""
        return await asyncio.to_thread(self._read, str(path))

    async def from_bytes(self, data: bytes, name: str) -> MediaRef:
        return await asyncio.to_thread(self._store, data, name)

    def _read(self, typed: str) -> MediaRef:
        shown = display_path(typed)  # the path as typed, so the user finds it
        path = Path(typed).expanduser()
        if not typed.strip():
            raise MediaError(f"A file option was given an empty path; give the path of {ACCEPTED}.")
        if path.is_dir():
            raise MediaError(f"{shown} is a folder, not a file. Give the path of {ACCEPTED}.")
        if not path.is_file():
            stop = "" if shown.endswith(".") else "."
            raise MediaError(f"No file at {shown}{stop} Give the path of {ACCEPTED}.")
        too_big = MediaError(
            f"{shown} is larger than {MAX_VIDEO_BYTES >> 20} MB; send {ACCEPTED} "
            f"(images up to {MAX_IMAGE_BYTES >> 20} MB, clips up to {MAX_VIDEO_BYTES >> 20} MB)."
        )
        if path.stat().st_size > MAX_VIDEO_BYTES:
            raise too_big
        with path.open("rb") as file:  # at most one byte past the cap, whatever stat said
            data = file.read(MAX_VIDEO_BYTES + 1)
        if len(data) > MAX_VIDEO_BYTES:
            raise too_big
        return self._store(data, path.name, shown)

    def _store(self, data: bytes, name: str, shown: str | None = None) -> MediaRef:
        clean = check(data, name, self._profile, shown)
        digest = hashlib.sha256(clean.data).hexdigest()
        self._root.mkdir(parents=True, exist_ok=True)
        path = self._root / f"{digest}.{clean.kind.ext}"
        if path.exists():
            # Sent again: fresh to media retention, which spares young files (retention.py).
            path.touch()
            self._fresh.discard(str(path))
        else:
            self._fresh.add(str(path))
            temp = path.with_name(f"{path.name}.{secrets.token_hex(8)}.part")
            temp.write_bytes(clean.data)
            temp.replace(path)
        return MediaRef(
            kind="image" if clean.kind.kind == "image" else "video",
            path=str(path),
            sha256=digest,
            mime=clean.kind.mime,
            size=len(clean.data),
            name=shown or display_name(name),  # the path a console user typed, as typed
        )


def check(data: bytes, name: str, profile: Profile, shown: str | None = None) -> _Clean:
    """The cleaned bytes to store for `data`, or MediaError. Pure: no files touched. `shown`
    is how messages name it (the path a console user typed); by default, its file name."""
    shown = shown or display_name(name)
    kind = sniff(data[:16])
    if kind is None:
        what = _looks_like(data)
        raise MediaError(f"{shown}{what} is not something I can use: send {ACCEPTED}.")
    limit = MAX_IMAGE_BYTES if kind.kind == "image" else MAX_VIDEO_BYTES
    if len(data) > limit:
        raise MediaError(
            f"{shown} is {len(data) / (1 << 20):.1f} MB; {kind.kind}s can be at most "
            f"{limit >> 20} MB. Send a smaller file."
        )
    if kind.kind == "image":
        return _Clean(clean_image(data, shown, kind), kind)
    if data[8:12] in _STILL_BRANDS:  # ISO-BMFF, but a photo (sniff calls any ftyp MP4)
        raise MediaError(f"{shown} is a HEIC/AVIF photo, which I cannot use: send {ACCEPTED}.")
    return _Clean(clean_clip(data, shown, profile.edit_max_seconds), kind)


def _looks_like(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if not data:
        return " (empty)"
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")):
        return " (a web page or SVG, not an image)"
    if head.startswith((b"gif8",)):
        return " (a GIF)"
    return ""


# -- images -------------------------------------------------------------------------------------
def clean_image(data: bytes, shown: str, kind: Sniffed) -> bytes:
    fmt = _IMAGE_FORMATS[kind.ext]
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            width, height = image.size
            if width < 1 or height < 1 or width * height > MAX_PIXELS:
                raise MediaError(f"{shown} is {width}x{height} pixels; I take {_ACCEPTED_IMAGES}.")
            image.load()  # the whole first frame: a broken or truncated body fails here
            icc = image.info.get("icc_profile")
            try:
                upright = ImageOps.exif_transpose(image) or image
            except Exception:  # a damaged EXIF block: keep the pixels as they are
                upright = image
            pixels = _savable(upright, fmt).copy()
            # Pillow writes some metadata (JPEG comments, XMP) from `info` on save: keep only
            # what the pixels mean (a palette image's transparent index).
            pixels.info = {k: v for k, v in pixels.info.items() if k == "transparency"}
            out = io.BytesIO()
            options: dict[str, Any] = {"format": fmt}
            if isinstance(icc, bytes) and len(icc) <= MAX_ICC_BYTES:
                options["icc_profile"] = icc
            if fmt == "JPEG":
                options.update(quality=95)
            elif fmt == "WEBP":
                options.update(quality=95, method=4)
            pixels.save(out, **options)  # no exif=, no pnginfo=: metadata is not written
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            f"{shown} decodes to far too many pixels to use; I take {_ACCEPTED_IMAGES}."
        ) from None
    except Exception:  # Pillow raises many types for a broken file (and warnings-as-errors)
        raise MediaError(
            f"{shown} looks like a {_FORMAT_NAMES[fmt]} image but cannot be decoded (damaged, "
            f"truncated or not really an image). I take {_ACCEPTED_IMAGES}."
        ) from None
    cleaned = out.getvalue()
    if len(cleaned) > MAX_IMAGE_BYTES:
        raise MediaError(
            f"{shown} is over {MAX_IMAGE_BYTES >> 20} MB once cleaned; send a smaller image."
        )
    return cleaned


def _savable(image: Image.Image, fmt: str) -> Image.Image:
    """The image in a mode the format can write (JPEG: RGB/L; WebP: RGB/RGBA)."""
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if fmt == "JPEG":
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if fmt == "WEBP":
        if image.mode in ("RGB", "RGBA"):
            return image
        return image.convert("RGBA" if alpha else "RGB")
    if image.mode in ("1", "L", "LA", "RGB", "RGBA", "I;16"):
        return image
    return image.convert("RGBA" if alpha else "RGB")


# -- clips --------------------------------------------------------------------------------------
def clip_seconds(data: bytes) -> float:
    """The clip's duration from its container (PyAV), in seconds: the longest of what the
    container header, the video stream header and the last video packet say."""
    with _open_clip(data) as container:
        return _duration(container)


def _open_clip(data: bytes) -> Any:
    # format="mov" is FFmpeg's MP4/QuickTime demuxer: no probing, so no HLS/concat tricks.
    return av.open(io.BytesIO(data), mode="r", format="mov")


def _duration(container: Any) -> float:
    seconds = 0.0
    if container.duration is not None:
        seconds = float(container.duration) / 1_000_000
    video = container.streams.video[0]
    base = video.time_base or Fraction(1, 1)
    if video.duration is not None:
        seconds = max(seconds, float(video.duration * base))
    start = video.start_time or 0
    for packet in container.demux(video):
        if packet.pts is None:
            continue
        end = float((packet.pts - start + (packet.duration or 0)) * base)
        seconds = max(seconds, end)
    return seconds


def clean_clip(data: bytes, shown: str, max_seconds: float) -> bytes:
    accepted = f"an MP4 clip of at most {max_seconds:g} s"
    try:
        with _open_clip(data) as container:
            if not container.streams.video:
                raise MediaError(f"{shown} has no video track; send {accepted}.")
            video = container.streams.video[0]
            if not (0 < video.width <= MAX_VIDEO_SIDE and 0 < video.height <= MAX_VIDEO_SIDE):
                raise MediaError(
                    f"{shown} is {video.width}x{video.height}; send {accepted} with sides "
                    f"of at most {MAX_VIDEO_SIDE} pixels."
                )
            seconds = _duration(container)
        if seconds > max_seconds + _DURATION_SLACK:
            raise MediaError(
                f"{shown} is {seconds:.1f} s long; video edit takes clips of at most "
                f"{max_seconds:g} s. Trim it and send {accepted}."
            )
        _decode_first_frame(data)
        try:
            return _remux(data, audio=True)
        except Exception:  # an audio codec MP4 cannot carry (e.g. PCM from a camera .mov)
            return _remux(data, audio=False)
    except MediaError:
        raise
    except Exception:  # PyAV raises its own error tree for damaged files
        raise MediaError(
            f"{shown} looks like an MP4 but cannot be read (damaged, or not really a video). "
            f"Send {accepted}."
        ) from None


def _decode_first_frame(data: bytes) -> None:
    with _open_clip(data) as container:
        for _frame in container.decode(video=0):
            return
    raise ValueError("no frame decodes")


def _remux(data: bytes, *, audio: bool) -> bytes:
    """The same video (and audio) packets in a fresh MP4, without the source's metadata."""
    out = io.BytesIO()
    with _open_clip(data) as source, av.open(out, mode="w", format="mp4") as target:
        target.metadata.clear()
        streams = {}
        for stream in source.streams:
            if stream.type != "video" and not (audio and stream.type == "audio"):
                continue  # subtitles, data and timecode tracks stay behind
            copy = target.add_stream_from_template(stream)
            copy.metadata.clear()
            streams[stream.index] = copy
        for packet in source.demux(*[s for s in source.streams if s.index in streams]):
            if packet.dts is None:  # the demuxer's end-of-stream flush packet
                continue
            packet.stream = streams[packet.stream.index]
            target.mux(packet)
    return out.getvalue()
