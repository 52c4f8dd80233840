"""How a user's file is named back to them: its file name, or the path they typed, made safe to
echo in chat (no control codes, mentions or markup) and short."""

from __future__ import annotations

import re

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f<>@`*|\\]")
_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f<>@`*|]")


def display_path(typed: str) -> str:
    """A path as the user typed it, made safe to echo (no control codes, mentions or markup)."""
    cleaned = _UNSAFE_PATH.sub("_", typed).strip()
    if len(cleaned) > 80:
        cleaned = "..." + cleaned[-77:]
    return cleaned or "That file"


def display_name(name: str) -> str:
    """A user-supplied file name made safe to echo in chat (no mentions, markup, paths)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip()
    if len(cleaned) > 60:
        cleaned = cleaned[:57] + "..."
    return cleaned or "That file"
