"""Private Slack files into our media store. `url_private` needs the bot token, so the token is
sent only to Slack's file host: a redirect to any other origin is refused, never followed, and a
200 HTML login page (what Slack serves when the app lacks `files:read`) is recognised and
explained instead of being handed to the media checks as a broken image."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.fetch.errors import FetchError, FetchRefused, FetchStatus, FetchTooLarge
from adapters.fetch.fetcher import SafeFetcher
from adapters.media.intake import MediaIntake
from adapters.slack.errors import error_code
from adapters.slack.installed import current
from bot.domain import MediaRef
from bot.errors import MediaError
from bot.media import MAX_VIDEO_BYTES

log = logging.getLogger("videobot.slack")

SLACK_FILE_ORIGIN = "https://files.slack.com"
MISSING_FILES_READ = (
    "Slack sent a login page instead of {name}: the app cannot read files. An admin must add "
    "the files:read scope to videobot and reinstall it (see slack-manifest.yml)."
)
_MEDIA_TYPES = ("png", "jpg", "jpeg", "webp", "mp4", "mov")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def is_media(file: dict[str, Any]) -> bool:
    """Whether a Slack file object looks like something we can animate (intake decides)."""
    mime = str(file.get("mimetype") or "")
    kind = str(file.get("filetype") or "").lower()
    return mime.startswith(("image/", "video/")) or kind in _MEDIA_TYPES


def describe(files: Sequence[dict[str, Any]]) -> str:
    videos = sum(1 for f in files if str(f.get("mimetype", "")).startswith("video/"))
    images = len(files) - videos
    counts = ((images, "image"), (videos, "clip"))
    parts = [f"{n} {word}{'s' if n > 1 else ''}" for n, word in counts if n]
    return " and ".join(parts) or "the files"


class SlackFiles:
    """Downloads private files with the workspace's bot token, to allowed origins only."""

    def __init__(
        self,
        client: AsyncWebClient,
        token: str | None,
        intake: MediaIntake,
        fetcher: SafeFetcher,
        allowed_origins: Iterable[str] = (SLACK_FILE_ORIGIN,),
    ) -> None:
        self._client = client
        self._token = token
        self._intake = intake
        self._fetcher = fetcher
        self._origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def info(self, file_id: str) -> dict[str, Any]:
        try:
            response = await self._client.files_info(file=file_id, token=self._token_now())
        except SlackApiError as err:
            code = error_code(err) or "error"
            if code == "missing_scope":
                raise MediaError(MISSING_FILES_READ.format(name="the file")) from None
            raise MediaError(f"Slack would not show me that file ({code}).") from None
        except SlackClientError:
            raise MediaError("Slack could not be reached for that file; try again.") from None
        file = response.get("file")
        if not isinstance(file, dict):
            raise MediaError("Slack returned no file for that id.")
        return file

    @property
    def intake(self) -> MediaIntake:
        return self._intake

    async def media(
        self, files: Sequence[dict[str, Any]], intake: MediaIntake | None = None
    ) -> tuple[list[MediaRef], MediaRef | None]:
        """The images and the clip among `files` (Slack file objects), stored by `intake` (a
        request's IntakeBatch) or this one's."""
        images: list[MediaRef] = []
        video: MediaRef | None = None
        for file in files:
            if not file.get("url_private") and file.get("id"):
                file = await self.info(str(file["id"]))  # noqa: PLW2901 (events may omit urls)
            name = str(file.get("name") or file.get("title") or "the file")
            data = await self.download(str(file.get("url_private") or ""), name)
            ref = await (intake or self._intake).from_bytes(data, name)
            if ref.kind == "video":
                if video is not None:
                    raise MediaError("Give one clip at a time for a video edit.")
                video = ref
            else:
                images.append(ref)
        return images, video

    async def download(self, url: str, name: str, limit: int = MAX_VIDEO_BYTES) -> bytes:
        """GET a url_private with the token: Slack's file host only (checked here and on
        every redirect hop by the fetcher, which drops the token if a hop leaves the origin)."""
        self._check(url, name)
        try:
            result = await self._fetcher.fetch_bytes(
                url,
                max_bytes=limit,
                headers={"Authorization": f"Bearer {self._token_now()}"},
                source="slack",
            )
        except FetchTooLarge:
            raise MediaError(f"{name} is larger than {limit >> 20} MB.") from None
        except FetchStatus as err:
            raise MediaError(f"Slack answered {err.status} for {name}; share it again.") from None
        except FetchRefused:
            log.warning("refused to follow %s's download off Slack's file host", name)
            raise MediaError(
                f"{name} is not on Slack's file host, so I will not fetch it with my token."
            ) from None
        except FetchError as err:
            raise MediaError(f"I could not download {name} from Slack ({err}).") from None
        data = result.data or b""
        kind = result.content_type.split(";")[0].strip().lower()
        if kind == "text/html" or data[:64].lstrip().lower().startswith((b"<!doctype", b"<html")):
            raise MediaError(MISSING_FILES_READ.format(name=name))
        return data

    def _token_now(self) -> str:
        """The bot token of the workspace the request being handled came from (OAuth
        installs), else SLACK_BOT_TOKEN."""
        installed = current()
        token = installed.bot_token if installed is not None else None
        return token or self._token or ""

    def _check(self, url: str, name: str) -> None:
        if origin(url) not in self._origins:
            log.warning("refused to send the bot token to %s", origin(url))
            raise MediaError(
                f"{name} is not on Slack's file host, so I will not fetch it with my token."
            )
