"""The checks that turn a parsed `/video` command plus its media into a VideoRequest the
provider profile allows, or a CommandError that says what is allowed."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence

from bot.commands import VideoCommand
from bot.domain import MediaRef, Mode, Profile, VideoRequest
from bot.errors import CommandError
from bot.messages import either


def build_request(
    command: VideoCommand,
    images: Sequence[MediaRef],
    video: MediaRef | None,
    profile: Profile,
) -> VideoRequest:
    """Check a parsed command plus its media against the provider profile.

    `images` are every image the user supplied (attachments or --image/--ref), in order."""
    prompt = check_prompt(command.prompt, profile.prompt_max_chars)
    _check_kinds(images, video)
    # --ref asks for reference-to-video even with one image (the help says 1 to N).
    mode = command.mode or (Mode.R2V if command.refs else _infer_mode(images, video))
    request = VideoRequest(
        prompt=prompt,
        mode=mode,
        aspect_ratio=command.aspect_ratio or profile.default_aspect_ratio,
        duration=profile.default_duration if command.duration is None else command.duration,
        images=tuple(images),
        video=video,
        resolution=command.resolution,  # None: the provider's default, which a setting may change
    )
    check_allowed(request, profile, inferred=command.mode is None)
    _check_distinct(images)
    if (
        request.mode is Mode.EDIT
        and profile.edit_keeps_clip
        and (command.aspect_ratio or command.duration is not None)
    ):
        raise CommandError(
            f"{_maker(profile)} keeps the clip's shape and length in a video edit; send it "
            "again without --ar and --duration."
        )
    return request


def check_allowed(request: VideoRequest, profile: Profile, inferred: bool = False) -> None:
    """The request's shape against the provider profile in force now: new commands, and every
    Retry, flip and Edit of an older task (made under another profile, perhaps) alike."""
    if request.aspect_ratio not in profile.aspect_ratios:
        raise CommandError(
            f"Aspect ratio {request.aspect_ratio} is not offered; use "
            f"{either(profile.aspect_ratios)}."
        )
    if request.duration not in profile.durations:
        allowed = either([str(d) for d in profile.durations])
        raise CommandError(f"A video can be {allowed} seconds long, not {request.duration}.")
    resolution = request.resolution
    if resolution is not None and resolution not in profile.resolutions:
        raise CommandError(
            f"{_maker(profile)} makes {either(profile.resolutions)} videos, not {resolution}."
            + (f" Use --res {profile.default_resolution}." if len(profile.resolutions) > 1 else "")
        )
    check_mode(request.mode, profile, inferred=inferred)
    _check_media(request.mode, request.images, request.video, profile)


def _check_kinds(images: Sequence[MediaRef], video: MediaRef | None) -> None:
    """What the bytes are (sniffed at intake) must be what the user gave them as: a PNG named
    clip.mp4 or passed with --video is not a clip, and is refused before anything is paid."""
    if video is not None and video.kind != "video":
        raise CommandError(
            f"{video.name or 'That file'} is an image, not a video clip; give it with --image "
            "(or --ref), and a clip with --video."
        )
    for media in images:
        if media.kind != "image":
            raise CommandError(
                f"{media.name or 'That file'} is a video clip, not an image; give it with "
                "--video, and images with --image or --ref."
            )


def _check_distinct(images: Sequence[MediaRef]) -> None:
    """The same image twice (under one name or two) is paid for and adds nothing."""
    seen: set[str] = set()
    for media in images:
        if media.sha256 in seen:
            raise CommandError(
                f"{media.name or 'An image'} is given twice; give each image once (reference "
                "images must differ)."
            )
        seen.add(media.sha256)


def offered_modes(profile: Profile) -> list[Mode]:
    """The profile's modes in the order users read them (t2v, i2v, r2v, edit)."""
    return [mode for mode in Mode if mode in profile.modes]


def check_mode(mode: Mode, profile: Profile, inferred: bool = False) -> None:
    """Refuse a mode the provider does not offer, naming the ones it does."""
    if mode in profile.modes:
        return
    offered = either([m.label for m in offered_modes(profile)]) if profile.modes else "nothing"
    why = f" (your {_MEDIA_HINTS[mode]} made it one)" if inferred and mode in _MEDIA_HINTS else ""
    raise CommandError(f"{_maker(profile)} does not offer {mode.label}{why}; it offers {offered}.")


_MEDIA_HINTS = {Mode.I2V: "image", Mode.R2V: "images", Mode.EDIT: "clip"}


def _maker(profile: Profile) -> str:
    name = profile.provider or "This video service"
    return name[0].upper() + name[1:]


def check_prompt(text: str, max_chars: int, edit: bool = False) -> str:
    """The prompt (or an edit's instruction) with its whitespace collapsed, or a CommandError:
    empty, longer than `max_chars`, or holding control characters (a NUL, a terminal escape)
    that no description needs and a provider or a log should never receive."""
    prompt = " ".join(text.split())
    if not any(_drawable(char) for char in prompt):  # empty, or only "--" and punctuation
        raise CommandError(
            "Describe the change you want, e.g. “make it rain”, and send it again."
            if edit
            else "Describe the video you want, e.g. `/video a paper boat on a river --ar 9:16`. "
            "`/video help` shows every option."
        )
    if any(unicodedata.category(char) == "Cs" for char in prompt):
        raise CommandError(  # bytes that were not UTF-8, carried through as surrogates
            "Part of the text is not valid UTF-8 (bytes the input could not decode). "
            "Type it again as plain text and send it again."
        )
    if any(unicodedata.category(char) == "Cc" for char in prompt):
        raise CommandError(
            "The text contains control characters (invisible codes pasted with it). "
            "Type it again as plain text and send it again."
        )
    if len(prompt) > max_chars:
        raise CommandError(
            f"The prompt is {len(prompt)} characters; the limit is {max_chars}. "
            "Shorten it and send it again."
        )
    return prompt


def _drawable(char: str) -> bool:
    """A letter, a digit or a symbol such as an emoji (🐱🌊 is a prompt); not punctuation."""
    return char.isalnum() or unicodedata.category(char) == "So"


def _infer_mode(images: Sequence[MediaRef], video: MediaRef | None) -> Mode:
    if video is not None:
        return Mode.EDIT
    if len(images) > 1:
        return Mode.R2V
    return Mode.I2V if images else Mode.T2V


def _check_media(
    mode: Mode, images: Sequence[MediaRef], video: MediaRef | None, profile: Profile
) -> None:
    count = len(images)
    if mode is Mode.T2V and (count or video):
        raise CommandError(
            "Text-to-video takes no media. Drop --mode t2v to animate your attachment instead."
        )
    if mode is Mode.I2V and (count != 1 or video):
        raise CommandError(f"Image-to-video takes exactly one image; you gave {count}.")
    if mode is Mode.R2V and (video or not 1 <= count <= profile.max_reference_images):
        raise CommandError(
            f"Reference-to-video takes 1 to {profile.max_reference_images} reference images "
            f"(--ref, repeated); you gave {count}."
        )
    if mode is Mode.EDIT and video is not None and video.url is None and not profile.clip_uploads:
        raise CommandError(
            f"{_maker(profile)} edits only videos I made: press “Edit this video” under one of "
            "them, or ask for a new video."
        )
    if mode is Mode.EDIT and video is not None and count:
        raise CommandError(
            f"Video edit takes one clip and no images; you gave {count} besides the clip. "
            "Send it again without them."
        )
    if mode is Mode.EDIT and video is None:
        raise CommandError(
            "Video edit takes exactly one clip (--video ./clip.mp4, at most "
            f"{profile.edit_max_seconds:g}s) and an instruction as the prompt."
        )
    if profile.image_counts is not None and count not in profile.image_counts:
        raise CommandError(
            f"This video service accepts {either([str(c) for c in profile.image_counts])} images "
            f"per request, not {count}."
        )


def instruction_digest(text: str) -> str:
    """The same instruction, spacing aside, is the same request: keys for Edit forms use this,
    so two forms sent with one instruction (a double submit, a second user) make one task."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:20]
