"""Real, playable MP4s for the simulator: H.264 video showing the prompt, AAC audio, the
requested aspect ratio and duration. PyAV (FFmpeg) encodes; Pillow draws the frames."""

from __future__ import annotations

import io
import math
import struct
import textwrap
from functools import lru_cache

import av
from PIL import Image, ImageDraw, ImageFont

_AUDIO_RATE = 24000
_AUDIO_CHUNK = 1024


def frame_size(aspect_ratio: str, height: int) -> tuple[int, int]:
    """(width, height) with even sides, for 16:9 or 9:16 at the given short side."""
    short = height - height % 2
    long = (short * 16 // 9) // 2 * 2
    return (long, short) if aspect_ratio == "16:9" else (short, long)


@lru_cache(maxsize=32)
def render_mp4(
    prompt: str, aspect_ratio: str, duration: int, height: int = 360, fps: int = 24
) -> bytes:
    """Encode the video in memory (cached: retries and re-downloads reuse it)."""
    width, tall = frame_size(aspect_ratio, height)
    base = _base_frame(prompt, width, tall)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, tall, "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "stillimage"}
        audio = container.add_stream("aac", rate=_AUDIO_RATE)
        total = duration * fps
        for index in range(total):
            image = base.copy()
            bar = ImageDraw.Draw(image)
            bar.rectangle(
                (0, tall - tall // 30, width * (index + 1) // total, tall), fill=(255, 170, 40)
            )
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        _tone(container, audio, duration)
    return buffer.getvalue()


def _base_frame(prompt: str, width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (18, 24, 48))
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 4):  # a soft vertical gradient so it is not a flat card
        shade = 18 + 40 * y // height
        draw.rectangle((0, y, width, y + 4), fill=(shade, 24 + shade // 2, 60 + shade))
    size = max(12, width // 24)
    font = ImageFont.load_default(size=size)
    chars = max(10, int(width / (size * 0.55)))
    lines = textwrap.wrap(prompt, chars)[:8]
    y = height // 2 - len(lines) * size * 6 // 10
    for line in lines:
        draw.text((width // 20, y), line, font=font, fill=(255, 255, 255))
        y += size * 12 // 10
    draw.text((width // 20, height // 12), "videobot simulator", font=font, fill=(255, 170, 40))
    return image


def _tone(container: av.container.OutputContainer, stream: av.AudioStream, duration: int) -> None:
    """A quiet ~445 Hz tone: the model returns audio, so the simulator does too. Its period
    divides the chunk, so chunks join without clicks."""
    cycles = 19  # whole sine periods per chunk
    chunk = b"".join(
        struct.pack("<h", int(1500 * math.sin(2 * math.pi * cycles * i / _AUDIO_CHUNK)))
        for i in range(_AUDIO_CHUNK)
    )
    pts = 0
    for _ in range(duration * _AUDIO_RATE // _AUDIO_CHUNK):
        frame = av.AudioFrame(format="s16", layout="mono", samples=_AUDIO_CHUNK)
        frame.planes[0].update(chunk)
        frame.sample_rate, frame.pts = _AUDIO_RATE, pts
        pts += _AUDIO_CHUNK
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
