"""The one `/video` grammar every adapter uses: text in, a parsed Command (or a CommandError
that says what is allowed) out. bot/checks.py turns a parsed command plus media into a request."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from pydantic import ValidationError

from bot.domain import Mode
from bot.errors import CommandError
from bot.flags import FLAG_ALIASES, FLAG_HINTS, REPEATABLE, Options, unknown_flag


@dataclass(frozen=True, slots=True)
class VideoCommand:
    """`/video <prompt> [flags]`, parsed but not yet checked against media or the profile."""

    prompt: str
    mode: Mode | None = None
    aspect_ratio: str | None = None
    duration: int | None = None
    resolution: str | None = None
    images: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    video: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCommand:
    """`status|cancel|retry <ref>`, or `confirm <ref>` of a request held for confirmation."""

    verb: str
    ref: str


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    """`help`, `list`, `usage` or `usage all`."""

    verb: str


Command = VideoCommand | TaskCommand | SimpleCommand


# Phones and Slack turn "--" into an em or en dash; accept what the user meant.
_DASHES = re.compile(r"(^|\s)[—–](?=[A-Za-z])")
_MAX_COMMAND_CHARS = 8000
_SHLEX_SPECIAL = re.compile(r"[\\'\"]")
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")


def split_words(text: str) -> list[str]:
    """shlex.split(text); text without quotes or backslashes (most commands) is split the way
    shlex would, at a fraction of its cost."""
    if _SHLEX_SPECIAL.search(text):
        return shlex.split(text)
    return [word for word in _SHLEX_SPACE.split(text) if word]


def parse(text: str) -> Command:
    """Parse what followed `/video` (or a console line). Raises CommandError."""
    text, words = _read(text)
    if not words:
        return SimpleCommand("help")
    head = words[0].lower()
    if head in ("-h", "--help", "?") and len(words) == 1:
        return SimpleCommand("help")
    # One rule a user can predict (the help says it): a line whose first word is a verb and
    # whose next word is a task reference, or nothing, is a command, and nothing may follow
    # it; any other line is a prompt. A quoted first word is always a prompt.
    if head in VERBS and not text.startswith(_QUOTES) and _is_command(head, words[1:]):
        return _verb(head, words[1:])
    return _parse_video(words)


def parse_prompt(text: str) -> VideoCommand:
    """A prompt with its options, where the platform has no verbs here (Discord's /video: its
    verbs are /videobot's). Raises CommandError."""
    return _parse_video(_read(text)[1])


def _read(text: str) -> tuple[str, list[str]]:
    text = _DASHES.sub(r"\1--", text.strip())
    if len(text) > _MAX_COMMAND_CHARS:
        raise CommandError(f"That command is too long ({len(text)} characters).")
    try:
        return text, split_words(text)
    except ValueError:
        raise CommandError(
            "I could not read that command: a quotation mark is not closed. Close it, e.g. "
            '`/video "a fox in snow" --ar 9:16`.'
        ) from None


VERBS = ("help", "list", "status", "cancel", "retry", "usage", "confirm")
_TASK_REF = re.compile(r"[0-9A-Za-z]{6}|[0-9a-fA-F]{32}")
_QUOTES = ('"', "'", "“", "”", "‘", "’")
# What a chat or a sentence puts around a reference: "cancel EX96XE." or “EX96XE”.
_REF_EDGES = ".,;:!?\"'“”‘’«»()[]<>`"


def task_ref(word: str) -> str | None:
    """The task reference `word` is shaped like (punctuation around it dropped), or None."""
    bare = word.strip(_REF_EDGES)
    return bare.upper() if _TASK_REF.fullmatch(bare) else None


def _is_command(head: str, rest: list[str]) -> bool:
    if not rest or rest[0].startswith("-"):
        return True  # alone, or with options a command cannot take (refused in _verb)
    if head == "usage" and rest[0].lower() == "all":
        return True
    return task_ref(rest[0]) is not None


def _verb(head: str, rest: list[str]) -> Command:
    """`help`, `list`, `usage [all]` or `status|cancel|retry|confirm <ref>`, with nothing after
    them: trailing words or options are refused (free) rather than guessed at (paid)."""
    if head in ("help", "list", "usage"):
        command = "usage all" if head == "usage" and rest and rest[0].lower() == "all" else head
        extra = rest[len(command.split()) - 1 :]
        if not extra:
            return SimpleCommand(command.lower())
    elif not rest:
        raise CommandError(f"Which task? Type `{head} <ref>`, e.g. `{head} 7KQ2MX`.")
    else:
        ref = task_ref(rest[0])
        command = f"{head} {ref or '<ref>'}"
        extra = rest[1:] if ref else rest
        if not extra and ref:
            return TaskCommand(head, ref)
    flag = next((i for i, word in enumerate(rest) if word.startswith("-")), len(rest))
    quoted = " ".join([f'"{" ".join([head, *rest[:flag]])}"', *rest[flag:]])
    what = "Options" if extra[0].startswith("-") else "Other words"
    raise CommandError(
        f"{what} cannot follow `{command}`. To run it, send `/video {command}` alone; to make "
        f"a video whose prompt starts with “{head}”, put the prompt in quotes: `/video {quoted}`."
    )


def _parse_video(words: list[str]) -> VideoCommand:
    prompt: list[str] = []
    flags: dict[str, list[str]] = {}
    spelled: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        single = word[1:].partition("=")[0].lower()
        if word.startswith("-") and not word.startswith("--") and single in FLAG_ALIASES:
            raise CommandError(f"Did you mean --{single}? Options start with two dashes.")
        if word == "--":  # ends the options: everything after it is prompt, "--" itself not
            prompt.extend(words[i + 1 :])
            break
        if not word.startswith("--"):
            prompt.append(word)
            i += 1
            continue
        name, eq, value = word[2:].partition("=")
        key = FLAG_ALIASES.get(name.lower())
        if key is None:
            raise CommandError(unknown_flag(name))
        if not eq:
            if i + 1 >= len(words) or words[i + 1].startswith("--"):
                raise CommandError(f"Option --{name} needs a value. {FLAG_HINTS[key]}")
            value = words[i + 1]
            i += 1
        if key in flags and key not in REPEATABLE:
            both = sorted({f"--{spelled[key]}", f"--{name}"})
            said = f" (as {both[0]} and {both[1]})" if len(both) > 1 else ""
            raise CommandError(f"Option --{name} was given twice{said}; give it once.")
        spelled.setdefault(key, name)
        flags.setdefault(key, []).append(value)
        i += 1
    try:
        options = Options(
            prompt=" ".join(prompt).strip(),
            mode=_one(flags, "mode"),
            aspect_ratio=_one(flags, "ar"),
            duration=_one(flags, "duration"),
            resolution=_one(flags, "res"),
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise CommandError(str(first["msg"]).removeprefix("Value error, ")) from None
    return VideoCommand(
        prompt=options.prompt,
        mode=options.mode,
        aspect_ratio=options.aspect_ratio,
        duration=options.duration,
        resolution=options.resolution,
        images=tuple(flags.get("image", ())),
        refs=tuple(flags.get("ref", ())),
        video=_one(flags, "video"),
    )


def _one(flags: dict[str, list[str]], key: str) -> str | None:
    values = flags.get(key)
    return values[0] if values else None


