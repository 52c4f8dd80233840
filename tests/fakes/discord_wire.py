"""How the fake Discord reads what discord.py sends and answers the way Discord does: JSON
as exactly `application/json`, Discord's error bodies, queued faults, and a record of every
request with its body (`Sent`) for the conformance suite."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

Json = dict[str, Any]


def json_answer(data: Any, status: int = 200) -> web.Response:
    # Exactly `application/json`: aiohttp's json_response adds a charset discord.py rejects.
    body = json.dumps(data).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def error_answer(status: int, code: int, message: str) -> web.Response:
    return json_answer({"code": code, "message": message}, status)


@dataclass
class Fault:
    """One queued failure of a REST route: `status` with Discord's error body (`code`), or a
    429 whose body carries `retry_after` the way discord.py reads it."""

    status: int
    code: int = 0
    message: str = "injected failure"
    retry_after: float | None = None

    def response(self) -> web.Response:
        if self.status != 429:
            return error_answer(self.status, self.code, self.message)
        body = {"message": "You are being rate limited.", "retry_after": self.retry_after or 1.0,
                "global": False, "code": 0}  # fmt: skip
        response = json_answer(body, 429)
        response.headers["Via"] = "1.1 google"  # discord.py treats a 429 without it as a ban
        response.headers["Retry-After"] = str(max(1, round(self.retry_after or 1.0)))
        return response


@dataclass
class Sent:
    """One request the client made, as Discord would see it: the JSON body, or for a
    multipart upload its `payload_json` (with the names of the files beside it)."""

    method: str
    path: str
    body: Json | None = None
    files: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)


# A typed key: aiohttp warns (an error under pytest) the first time a plain string is used,
# which failed whichever request came first in a run with a 500.
SENT = web.RequestKey("sent", Sent)


async def read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    """JSON, or multipart with `payload_json` and `files[n]`, as discord.py sends them;
    recorded on the request's `Sent` for the conformance suite."""
    body, files = await _parse_body(request)
    if SENT in request:
        request[SENT].body = body
        request[SENT].files = [name for name, _ in files]
    return body, files


async def _parse_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    if not request.content_type.startswith("multipart/"):
        return (await request.json() if request.can_read_body else {}), []
    body: Json = {}
    files: list[tuple[str, bytes]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        data = await part.read()
        if part.name == "payload_json":
            body = json.loads(data)
        elif re.fullmatch(r"files\[\d+\]", part.name or ""):
            files.append((part.filename or "file", bytes(data)))
    return body, files
