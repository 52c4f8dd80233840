"""The simulated Gemini Files API: the resumable upload (start, then `upload, finalize` to the
URL it names), file states (PROCESSING for a few looks, then ACTIVE or FAILED), and downloads of
generated videos, which redirect to a "storage" origin that wants no key (as Google's results
redirect to storage.googleapis.com)."""

from __future__ import annotations

import base64
import io
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import av
from aiohttp import web

if TYPE_CHECKING:
    from adapters.simulator.google import GoogleSpeaker

MAX_UPLOAD = 200 * 1024 * 1024
FILE_TTL = timedelta(hours=48)


@dataclass
class SimFile:
    name: str  # files/<id>
    mime: str
    size: int
    data: bytes | None  # None for a generated video (rendered on download)
    created: datetime
    looks_left: int  # GETs that still find it PROCESSING
    fate: str = "ACTIVE"
    task_id: str | None = None  # the render a generated video belongs to

    @property
    def state(self) -> str:
        return "PROCESSING" if self.looks_left > 0 else self.fate


@dataclass
class FilesApi:
    speaker: GoogleSpeaker
    files: dict[str, SimFile] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    storage: dict[str, str] = field(default_factory=dict)  # token -> file name
    storage_headers: list[dict[str, str]] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/upload/v1beta/files", self._upload),
            web.get("/v1beta/files", self._list),
            web.get("/v1beta/files/{name}", self._get),
            web.get("/files/storage/{token}", self._storage),
        ]

    # -- what the interactions side needs --------------------------------------------------------
    def by_uri(self, uri: str) -> SimFile | None:
        """The file an input part names (`.../v1beta/files/<id>`, or `files/<id>`)."""
        name = "files/" + uri.rstrip("/").rsplit("/files/", 1)[-1].removeprefix("files/")
        return self.files.get(name.removesuffix(":download"))

    def held(self, part: dict[str, Any] | None) -> bytes | None:
        """The bytes an input part carries (inline `data`) or names (an uploaded file's `uri`)."""
        if part is None:
            return None
        if part.get("uri"):
            file = self.by_uri(str(part["uri"]))
            return file.data if file else None
        try:
            return base64.b64decode(str(part.get("data", "")), validate=True) or None
        except ValueError:
            return None

    def generated(self, task_id: str) -> SimFile:
        """The file holding a finished render's video (made once, on first use)."""
        name = f"files/{task_id.removeprefix('v1_')[:12]}out"
        if name not in self.files:
            self.files[name] = SimFile(name, "video/mp4", 0, None, _now(), 0, task_id=task_id)
        return self.files[name]

    def sign(self, task_id: str) -> str:
        """A storage token for a finished render's video (what a download redirects to)."""
        token = secrets.token_urlsafe(16)
        self.storage[token] = self.generated(task_id).name
        return token

    def view(self, file: SimFile) -> dict[str, Any]:
        base = self.speaker.sim.base_url
        view: dict[str, Any] = {
            "name": file.name,
            "displayName": file.name.split("/")[-1],
            "mimeType": file.mime,
            "sizeBytes": str(file.size),
            "createTime": file.created.isoformat().replace("+00:00", "Z"),
            "expirationTime": (file.created + FILE_TTL).isoformat().replace("+00:00", "Z"),
            "uri": f"{base}/v1beta/{file.name}",
            "state": file.state,
            "source": "GENERATED" if file.task_id else "UPLOADED",
        }
        if file.state == "FAILED":
            view["error"] = {"code": 400, "message": "The file could not be processed."}
        return view

    # -- the resumable upload -------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.StreamResponse:
        command = request.headers.get("X-Goog-Upload-Command", "").replace(" ", "").lower()
        if command == "start":
            return await self._start(request)
        session = self.sessions.get(request.query.get("upload_id", ""))
        if session is None:
            return self.speaker.refuse(404, "not_found", "No such upload session.")
        if set(command.split(",")) != {"upload", "finalize"}:
            return self.speaker.refuse(
                400, "invalid_request", "Send the bytes with `upload, finalize`."
            )
        if request.headers.get("X-Goog-Upload-Offset", "0") != "0":
            return self.speaker.refuse(400, "invalid_request", "This upload starts at offset 0.")
        data = bytearray()
        async for chunk in request.content.iter_chunked(1 << 20):
            data += chunk
            if len(data) > MAX_UPLOAD:
                return self.speaker.refuse(413, "invalid_request", "The file is too large.")
        if len(data) != session["size"]:
            return self.speaker.refuse(
                400, "invalid_request", "The bytes sent differ from the declared length."
            )
        del self.sessions[request.query["upload_id"]]
        knobs = self.speaker.knobs
        name = f"files/{secrets.token_hex(6)}"
        self.files[name] = SimFile(
            name,
            session["mime"],
            len(data),
            bytes(data),
            _now(),
            int(knobs["file_processing_looks"]),
            str(knobs["file_fate"]),
        )
        self.speaker.sim.stats.uploads += 1
        response = web.json_response({"file": self.view(self.files[name])})
        response.headers["X-Goog-Upload-Status"] = "final"
        return response

    async def _start(self, request: web.Request) -> web.StreamResponse:
        size = request.headers.get("X-Goog-Upload-Header-Content-Length", "")
        mime = request.headers.get("X-Goog-Upload-Header-Content-Type", "")
        if request.headers.get("X-Goog-Upload-Protocol") != "resumable":
            return self.speaker.refuse(
                400, "invalid_request", "X-Goog-Upload-Protocol must be resumable."
            )
        if not size.isdigit() or not mime:
            return self.speaker.refuse(
                400,
                "invalid_request",
                "Give X-Goog-Upload-Header-Content-Length and X-Goog-Upload-Header-Content-Type.",
            )
        upload_id = secrets.token_urlsafe(12)
        self.sessions[upload_id] = {"size": int(size), "mime": mime}
        response = web.json_response({})
        response.headers["X-Goog-Upload-URL"] = (
            f"{self.speaker.sim.base_url}/upload/v1beta/files"
            f"?upload_id={upload_id}&upload_protocol=resumable"
        )
        response.headers["X-Goog-Upload-Status"] = "active"
        return response

    # -- looking files up, downloading results --------------------------------------------------
    async def _list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"files": [self.view(f) for f in self.files.values()]})

    async def _get(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["name"]
        name, _, action = raw.partition(":")
        file = self.files.get(f"files/{name}")
        if file is None:
            return self.speaker.old_error(
                403,
                "PERMISSION_DENIED",
                f"You do not have permission to access the File {name} or it may not exist.",
            )
        if action == "download":
            if file.task_id is None:
                return self.speaker.refuse(
                    400, "invalid_request", "Only generated files can be downloaded."
                )
            token = self.sign(file.task_id)
            raise web.HTTPFound(f"{self.speaker.storage_base()}/files/storage/{token}")
        view = self.view(file)
        file.looks_left = max(0, file.looks_left - 1)
        return web.json_response(view)

    async def _storage(self, request: web.Request) -> web.StreamResponse:
        """The storage origin: no key wanted (one arriving here is recorded, and a test fails)."""
        self.storage_headers.append({k.lower(): v for k, v in request.headers.items()})
        name = self.storage.get(request.match_info["token"])
        file = self.files.get(name or "")
        if file is None or file.task_id is None:
            return web.Response(status=404, text="NoSuchKey")
        data = await self.speaker.video(file.task_id)
        if data is None:
            return web.Response(status=403, text="AccessDenied: the link has expired")
        return web.Response(body=data, content_type="video/mp4")


def clip_shape(data: bytes) -> tuple[str, int] | None:
    """(aspect ratio, whole seconds) of an MP4, or None when it does not decode."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            ratio = "9:16" if stream.height > stream.width else "16:9"
            seconds = round((container.duration or 0) / 1_000_000)
    except (av.error.FFmpegError, IndexError, ValueError):
        return None
    return ratio, max(1, seconds)


def _now() -> datetime:
    return datetime.now(UTC)
