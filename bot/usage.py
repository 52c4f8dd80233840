"""The help every platform shows for `/video help`: the grammar, examples and the task verbs,
written from the provider profile so it never offers a duration, resolution, ratio or mode that
would be refused."""

from __future__ import annotations

from collections.abc import Sequence

from bot.checks import offered_modes
from bot.domain import Mode, Profile
from bot.messages import either


def help_text(
    profile: Profile,
    prefix: str = "/video",
    task_prefix: str | None = None,
    platform: str = "console",
) -> str:
    """The grammar with examples. `task_prefix` is where the task verbs live when a platform
    puts them under another command (Discord: `/videobot status <ref>`). `platform` says how
    media reaches the bot there: file paths in the console, attachments in the chats."""
    verbs = task_prefix or prefix
    # A provider that edits only its own videos takes no clip here: Edit is a button under them.
    modes = [m for m in offered_modes(profile) if m is not Mode.EDIT or profile.clip_uploads]
    maker = f"\nProvider: {profile.provider}" if profile.provider else ""
    media = _media_words(modes)
    optional = f" (and optionally {media})" if media else ""
    return f"""\
{prefix} turns a description{optional} into a short video.{maker}

  {prefix} <prompt> {" ".join(_synopsis(profile, modes, platform))}

Examples
{_examples(profile, prefix, modes, platform)}
Options
{_options(profile, modes, platform)}
Tasks
  {verbs} status <ref>    where a task is
  {verbs} cancel <ref>    stop a task that has not finished
  {verbs} retry <ref>     run an ended task again (a new, separately billed video)
  {verbs} confirm <ref>   make a video that asked first because of its price (cancel declines)
  {verbs} list            your recent tasks
  {verbs} usage           what you have spent today and this month (admins: usage all)
{_verb_rule(prefix, platform)}"""


def _verb_rule(prefix: str, platform: str) -> str:
    if platform == "discord":  # /video takes only prompts there; the verbs are /videobot's
        return ""
    return (
        "  A line that starts with one of these words followed by a task reference (or by\n"
        "  nothing) is a command, and nothing may follow it; any other line is a prompt.\n"
        f'  Quote a prompt that starts with one: {prefix} "cancel EX96XE please".\n'
    )


def seconds(durations: Sequence[int], joiner: str = "|") -> str:
    """`6|10`, or `3-15` for a long unbroken run (Vertex: every second from 3 to 15)."""
    values = list(durations)
    if len(values) > 4 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return joiner.join(map(str, values))


def _media_words(modes: list[Mode]) -> str:
    images = Mode.I2V in modes or Mode.R2V in modes
    if images and Mode.EDIT in modes:
        return "images or a clip"
    if images:
        return "images"
    return "a clip" if Mode.EDIT in modes else ""


def _synopsis(profile: Profile, modes: list[Mode], platform: str) -> list[str]:
    parts = [
        f"[--ar {'|'.join(profile.aspect_ratios)}]",
        f"[--duration {seconds(profile.durations)}]",
    ]
    if len(profile.resolutions) > 1:
        parts.append(f"[--res {'|'.join(profile.resolutions)}]")
    if len(modes) > 1:
        parts.append(f"[--mode {'|'.join(m.value for m in modes)}]")
    slots = _SLOTS.get(platform, ())
    parts.extend(slot for mode, slot in slots if mode in modes)
    return parts


# The media each platform carries on the command line itself (Slack's /video carries none).
_SLOTS = {
    "console": (
        (Mode.I2V, "[--image FILE]"),
        (Mode.R2V, "[--ref FILE ...]"),
        (Mode.EDIT, "[--video FILE]"),
    ),
    "discord": (
        (Mode.I2V, "[image:FILE]"),
        (Mode.R2V, "[ref1:FILE ... ref3:FILE]"),
        (Mode.EDIT, "[video:FILE]"),
    ),
}
DISCORD_IMAGES = 4  # /video's image and ref1-ref3 options


def _examples(profile: Profile, prefix: str, modes: list[Mode], platform: str) -> str:
    lines = []
    if Mode.T2V in modes:
        lines.append(f"{prefix} a fox running through snow --ar 9:16")
        longest = profile.durations[-1]
        lines.append(f'{prefix} "a paper boat on a river, golden hour" --duration {longest}')
        if len(profile.resolutions) > 1:
            lines.append(f"{prefix} a lighthouse in a storm --res {profile.resolutions[-1]}")
    if platform != "console":
        return "".join(f"  {line}\n" for line in lines) + _attaching(platform, modes)
    if Mode.I2V in modes:
        lines.append(f"{prefix} make the cat wave --image ./cat.png            (image-to-video)")
    if Mode.R2V in modes:
        refs = " ".join(f"--ref {name}.png" for name in "abcdefghij"[: _ref_count(profile)])
        lines.append(f"{prefix} these friends dancing together {refs}  (reference-to-video)")
    if Mode.EDIT in modes and profile.clip_uploads:
        lines.append(
            f"{prefix} turn it into a watercolour --video ./clip.mp4   (video edit, clip at most "
            f"{profile.edit_max_seconds:g}s)"
        )
    return "".join(f"  {line}\n" for line in lines)


_ATTACHING = {
    "slack": (
        "With {media}: @mention me in a message that has them attached (@videobot make the cat\n"
        "  wave), or use the message shortcut “Animate with videobot” (the ⋮ menu of a message\n"
        "  that holds them). /video alone opens a form that takes files too.\n"
    ),
    "discord": (
        "With {media}: give them in /video's {slots}, or right-click a\n"
        "  message that holds them > Apps > Animate with videobot.\n"
    ),
}


def _attaching(platform: str, modes: list[Mode]) -> str:
    media = _media_words(modes)
    if not media or platform not in _ATTACHING:
        return ""
    names = [name for mode, name in _SLOT_NAMES if mode in modes]
    slots = either(names) + (" options" if len(names) > 1 or "-" in names[0] else " option")
    return "  " + _ATTACHING[platform].format(media=media, slots=slots)


_SLOT_NAMES = ((Mode.I2V, "image"), (Mode.R2V, "ref1-ref3"), (Mode.EDIT, "video"))


def _ref_count(profile: Profile) -> int:
    """Two references, or the fewest above one the provider's image-count rule accepts."""
    allowed = profile.image_counts or range(2, profile.max_reference_images + 1)
    return min((c for c in allowed if 2 <= c <= profile.max_reference_images), default=1)


def _options(profile: Profile, modes: list[Mode], platform: str) -> str:
    lines = [
        f"--ar        aspect ratio: {either(profile.aspect_ratios)} (default "
        f"{profile.default_aspect_ratio}); also portrait / landscape",
        f"--duration  seconds: {_seconds_text(profile.durations)} (default "
        f"{profile.default_duration})",
    ]
    if len(profile.resolutions) > 1:
        lines.append(
            f"--res       resolution: {either(profile.resolutions)} (default "
            f"{profile.default_resolution})"
        )
    if len(modes) > 1:
        offered = either([m.value for m in modes])
        lines.append(f"--mode      {offered}; inferred from your media when left out")
    if Mode.R2V in modes and platform == "console":
        lines.append(
            f"--ref       a reference image; repeat it for up to {profile.max_reference_images}"
        )
    elif Mode.R2V in modes:
        most = profile.max_reference_images
        most = min(most, DISCORD_IMAGES) if platform == "discord" else most
        lines.append(f"Reference-to-video takes up to {most} images.")
    if profile.image_counts is not None:
        counts = either([str(c) for c in profile.image_counts])
        lines.append(f"            images per request: {counts}")
    if len(modes) == 1:
        lines.append(f"Only {modes[0].label} is offered here.")
    flags = [f for mode, f in _FILE_FLAGS if mode in modes]
    if not profile.clip_uploads and Mode.EDIT in profile.modes and platform != "console":
        lines.append("Video edit: press “Edit this video” under a video I made.")
    if flags and platform == "console":
        verb = "takes the path of a local file" if len(flags) == 1 else "take paths of local files"
        lines.append(f"{either(flags)} {verb}.")
    return "".join(f"  {line}\n" for line in lines)


_FILE_FLAGS = ((Mode.I2V, "--image"), (Mode.R2V, "--ref"), (Mode.EDIT, "--video"))


def _seconds_text(durations: Sequence[int]) -> str:
    span = seconds(durations)
    if "-" in span:
        first, last = span.split("-")
        return f"{first} to {last}"
    return either([str(d) for d in durations])
