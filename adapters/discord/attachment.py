"""Discord attachments into our media store: picked out by Discord's type hint, fetched at
once through the SSRF-safe fetcher (their CDN URLs are signed and expire), checked by intake."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from adapters.fetch.errors import FetchError, FetchRefused
from adapters.fetch.fetcher import SafeFetcher
from adapters.media.intake import MediaIntake
from bot.domain import MediaRef
from bot.errors import MediaError
from bot.media import MAX_VIDEO_BYTES


def media_attachments(attachments: Sequence[discord.Attachment]) -> list[discord.Attachment]:
    """The attachments worth downloading: images and videos by Discord's hint (intake re-checks
    the bytes themselves)."""
    return [
        a
        for a in attachments
        if (a.content_type or "").startswith(("image/", "video/"))
        or a.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".mp4", ".mov"))
    ]


async def download_attachments(
    attachments: Sequence[discord.Attachment],
    fetcher: SafeFetcher,
    intake: MediaIntake,
    slots: Sequence[str] | None = None,
) -> tuple[list[MediaRef], MediaRef | None]:
    """Fetch every attachment now: Discord's CDN URLs are signed and expire. `slots` names the
    /video option each came in (image, ref1-ref3, video): what it holds must be that kind."""
    images: list[MediaRef] = []
    videos: list[MediaRef] = []
    for index, attachment in enumerate(attachments):
        if attachment.size > MAX_VIDEO_BYTES:
            raise MediaError(f"{attachment.filename} is too large to use.")
        try:
            fetched = await fetcher.fetch_bytes(
                attachment.url, max_bytes=MAX_VIDEO_BYTES, source="discord"
            )
        except FetchRefused:
            raise MediaError(
                f"{attachment.filename} is not on Discord's CDN, so I will not fetch it."
            ) from None
        except FetchError:
            raise MediaError(
                f"I could not download {attachment.filename} from Discord; send it again."
            ) from None
        data = fetched.data or b""
        media = await intake.from_bytes(data, attachment.filename)
        slot = slots[index] if slots else None
        if slot is not None:
            _check_slot(media, slot)
        (images if media.kind == "image" else videos).append(media)
    if len(videos) > 1:
        raise MediaError("Video edit takes one clip; you attached several.")
    return images, (videos[0] if videos else None)


def _check_slot(media: MediaRef, slot: str) -> None:
    """A clip given as an image (or an image given as the clip) is refused, not re-read as
    another mode: the option is what the user asked for."""
    wanted = "video" if slot == "video" else "image"
    if media.kind == wanted:
        return
    if wanted == "video":
        raise MediaError(
            f"{media.name} is an image, not a video clip; give it in /video's image or ref "
            "option, and a clip in the video option."
        )
    raise MediaError(
        f"{media.name} is a video clip, not an image; give it in /video's video option, and "
        f"images in the image or ref options (you gave it as {slot})."
    )
