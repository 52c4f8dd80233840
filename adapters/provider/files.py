"""Google's Files API: a resumable upload (a start request, then the bytes to the URL it names),
then waiting for the file to become ACTIVE. Uploading again is harmless (a second file, never a
second render), so every step may be retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import MediaRef
from bot.errors import ProviderError, ProviderRejected, ProviderTransient

if TYPE_CHECKING:  # the dialects import this module: no import cycle at run time
    from adapters.provider.dialects.base import Wire

START_PATH = "/upload/v1beta/files"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileWait:
    """How long an upload may stay PROCESSING: a pause before each look (about two minutes
    in all), through `sleep` (a test passes one that returns at once)."""

    delays: tuple[float, ...] = (0.5, 1, 1, 2, 3, 5, 5, 8, 8, 10, 10, 15, 15, 20, 20)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class _FileError(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    code: str | None = None
    message: str | None = None


class UploadedFile(BaseModel):
    """A Files API file (`{"file": {...}}` after an upload, the object itself on a GET)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = Field(min_length=1)
    uri: str | None = None
    state: str = "STATE_UNSPECIFIED"
    mime_type: str | None = Field(None, alias="mimeType")
    error: _FileError | None = None

    @classmethod
    def read(cls, data: Any) -> UploadedFile:
        if isinstance(data, dict) and isinstance(data.get("file"), dict):
            data = data["file"]
        return cls.model_validate(data)


class FileBody:
    """A file sent as a request body in chunks, read afresh for every attempt."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def __aiter__(self) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(self._path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(file.read, _CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)


async def upload(wire: Wire, media: MediaRef, wait: FileWait) -> str:
    """Upload `media` and return its `uri` once the file is ACTIVE. A file that ends FAILED is
    a ProviderRejected (nothing was paid: the render was never asked for)."""
    if not media.path:
        raise ProviderError("the medium has no local file to upload")
    path = Path(media.path)
    size = media.size or (await asyncio.to_thread(path.stat)).st_size
    started = await wire.request(
        "stage",
        "POST",
        START_PATH,
        idempotent=True,
        json={"file": {"display_name": f"videobot-{media.sha256[:16] or 'upload'}"}},
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": media.mime,
        },
    )
    target = started.headers.get("x-goog-upload-url")
    if not target:
        raise ProviderTransient("the Files API answered without an upload URL")
    sent = await wire.request(
        "stage",
        "POST",
        _on_our_origin(target),
        idempotent=True,
        content=FileBody(path),
        headers={
            "Content-Length": str(size),
            "X-Goog-Upload-Offset": "0",
            "X-Goog-Upload-Command": "upload, finalize",
        },
    )
    return await until_active(wire, _read(wire.body(sent)), media.kind, wait)


async def until_active(wire: Wire, file: UploadedFile, kind: str, wait: FileWait) -> str:
    """The file's `uri` once ACTIVE; its state looked up again after each pause."""
    for delay in (0.0, *wait.delays):
        if delay:
            await wait.sleep(delay)
            answer = await wire.request(
                "stage", "GET", f"/v1beta/{_name(file.name)}", idempotent=True
            )
            file = _read(wire.body(answer))
        state = file.state.upper()
        if state == "ACTIVE":
            if not file.uri:
                raise ProviderTransient("the Files API named no URI for an ACTIVE file")
            return file.uri
        if state == "FAILED":
            reason = file.error.message if file.error and file.error.message else "no reason"
            raise ProviderRejected(
                f"Google could not process the uploaded {kind} ({reason}); send another one",
                code="file_failed",
            )
    raise ProviderTransient(f"Google is still processing the uploaded {kind}; trying again soon")


def _read(data: Any) -> UploadedFile:
    try:
        return UploadedFile.read(data)
    except ValueError as err:
        raise ProviderTransient("the Files API answered something unreadable") from err


def _name(name: str) -> str:
    """`files/abc` as a path; a bare id gets its collection."""
    name = name.strip("/")
    return name if name.startswith("files/") else f"files/{name}"


def _on_our_origin(url: str) -> str:
    """The upload URL's path and query, sent to the API root we already trust: the key goes
    nowhere else, even if the answer named another host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
