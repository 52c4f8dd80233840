"""Real, playable MP4s for the simulator: H.264 video showing the prompt, AAC audio, the
requested aspect ratio and duration. PyAV (FFmpeg) encodes; Pillow draws the frames."""

from __future__ import annotations

import io
import math
import struct
import textwrap
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path

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
    prompt: str,
    aspect_ratio: str,
    duration: int,
    height: int = 360,
    fps: int = 24,
    still: bytes | None = None,
) -> bytes:
    """Encode the video in memory (cached: retries and re-downloads reuse it). `still`, the
    request's input image, is shown in a corner (an image-to-video result shows its input)."""
    width, tall = frame_size(aspect_ratio, height)
    base = _base_frame(prompt, width, tall)
    if still:
        _inset(base, still)
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
    fonts = _fonts(size)
    chars = max(10, int(width / (size * 0.55)))
    wide = sum(unicodedata.east_asian_width(c) in "WF" for c in prompt) > len(prompt) // 3
    lines = textwrap.wrap(prompt, chars // 2 if wide else chars)[:8]
    y = height // 2 - len(lines) * size * 6 // 10
    for line in lines:
        x = float(width // 20)
        for font, run in _runs(line, fonts):
            # Trailing spaces only advance: in a right-to-left run they would be laid out on
            # its left and push the word over what follows.
            draw.text((x, y), run.rstrip(), font=font, fill=(255, 255, 255))
            x += font.getlength(run)
        y += size * 12 // 10
    label = "videobot simulator"
    draw.text((width // 20, height // 12), label, font=fonts[-1], fill=(255, 170, 40))
    return image


def _inset(frame: Image.Image, image: bytes) -> None:
    """The input image in the frame's lower right corner, a third of its height."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            picture = opened.convert("RGB")
    except (OSError, ValueError):
        return  # not an image the simulator can read: the frame stays as it is
    side = max(8, frame.height // 3)
    picture.thumbnail((side, side))
    margin = frame.height // 20
    frame.paste(
        picture, (frame.width - picture.width - margin, frame.height - picture.height - 2 * margin)
    )


# The fonts tried in order for each character: the Noto faces the package depends on (so every
# machine draws Latin, Cyrillic, Arabic, Hebrew, Indic, Thai, CJK, symbols and emoji alike),
# then a system's own wide fonts, then Pillow's built-in font. A character none of them has is
# drawn as a short note naming its script, never as an empty box.
_PACKAGED = (
    ("manimgx_fonts", "NotoSans[[]wght].ttf"),
    ("noto_cjk_sans_jp_regular", "NotoSansCJK*.otf"),
    ("manimgx_fonts", "NotoSans[A-Z]*.ttf"),  # one face per script, and Symbols
    ("manimgx_fonts", "NotoEmoji*.ttf"),
)
_SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
)


def packaged_fonts() -> tuple[str, ...]:
    """The font files of the font packages, in `_PACKAGED` order (none when not installed)."""
    found: list[str] = []
    for package, pattern in _PACKAGED:
        try:
            folder = Path(str(resources.files(package)))
        except ModuleNotFoundError:
            continue
        found += (str(p) for p in sorted(folder.glob(pattern)) if str(p) not in found)
    return tuple(found)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _fonts(size: int) -> tuple[Font, ...]:
    found: list[Font] = []
    for path in (*packaged_fonts(), *_SYSTEM_FONTS):
        if Path(path).is_file():
            try:
                found.append(ImageFont.truetype(path, size))
            except OSError:
                continue
    return (*found, ImageFont.load_default(size=size))


@lru_cache(maxsize=4096)
def _has(font: Font, char: str) -> bool:
    """Whether `font` draws `char` (its mask differs from the font's missing-glyph box)."""
    if char.isspace():
        return True

    def mask(c: str) -> tuple[object, bytes]:
        drawn = font.getmask(c)
        return drawn.size, bytes(drawn)

    return mask(char) != mask("\U0010fffd")


def _clusters(line: str) -> list[str]:
    """`line` in the pieces a font must draw together: a letter with its combining marks (Thai
    and Devanagari vowel signs), joiners, variation selectors and skin tones."""
    clusters: list[str] = []
    for char in line:
        joins = clusters and (
            unicodedata.category(char).startswith("M")
            or char in "\u200c\u200d"
            or "\ufe00" <= char <= "\ufe0f"
            or "\U0001f3fb" <= char <= "\U0001f3ff"
            or clusters[-1].endswith("\u200d")
        )
        if joins:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _runs(line: str, fonts: tuple[Font, ...]) -> list[tuple[Font, str]]:
    """`line` split into runs each drawn by the first font that has its characters; a
    letter's marks stay with it (a font per character would box them on their own)."""
    runs: list[tuple[Font, str]] = []
    missing = ""
    for piece in [*_clusters(line), "\0"]:
        base = piece[0]
        font = next((f for f in fonts if _has(f, base)), None) if piece != "\0" else None
        if font is None and piece != "\0":
            missing += piece
            continue
        if missing:
            word = unicodedata.name(missing[0], "UNKNOWN").split()[0]
            script = word if len(word) <= 3 else word.capitalize()
            runs.append((fonts[-1], f"<{len(missing)} {script} characters>"))
            missing = ""
        if font is None:
            break
        if runs and (runs[-1][0] is font or piece.isspace()):
            # A space stays in the run it follows: words of one right-to-left script are
            # then laid out together, in their own order.
            runs[-1] = (runs[-1][0], runs[-1][1] + piece)
        else:
            runs.append((font, piece))
    return runs


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
