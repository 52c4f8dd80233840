"""Reading the simulator's videos back: the colour where an image-to-video result shows its
input image (adapters/simulator/mp4.py insets it in the lower right corner of every frame)."""

from __future__ import annotations

import io
from pathlib import Path

import av


def inset_colour(video: Path | bytes) -> tuple[int, int, int]:
    """The first frame's colour inside the inset of any input at least 40 px a side, and
    (for contrast) at the same height on the left, where the frame shows no input."""
    source = io.BytesIO(video) if isinstance(video, bytes) else str(video)
    with av.open(source) as container:
        frame = next(container.decode(video=0)).to_image().convert("RGB")
    width, height = frame.size
    margin = height // 20
    red, green, blue = frame.getpixel((width - margin - 20, height - 2 * margin - 20))
    return red, green, blue


def looks_like(colour: tuple[int, int, int], wanted: tuple[int, int, int]) -> bool:
    """Within what H.264's 4:2:0 colour keeps of a flat patch."""
    return all(abs(a - b) <= 24 for a, b in zip(colour, wanted, strict=True))
