"""What the simulator's task APIs share: a task's state as a poll sees it and its file's URL; and
for the gateway speakers (apimart, evolink, fal) a submit's JSON, the media and shape rules every
gateway applies, the shape of an edit's source clip and a result's expiry."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av
from aiohttp import web

from adapters.simulator.state import SimTask

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

RATIOS = ("16:9", "9:16")
SECONDS = range(3, 11)  # every gateway here sells the model's own 3-10 s
_FILE = re.compile(r"/files/([^/]+)\.mp4$")


class Refused(ValueError):
    """A 400 (or fal's 422) naming the field that is wrong; `field` locates it for fal."""

    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


async def json_object(request: web.Request) -> dict[str, Any]:
    """The submit's body, or Refused when it is not a JSON object."""
    try:
        body = await request.json()
    except ValueError:
        raise Refused("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refused("The body must be a JSON object.")
    return body


def urls(body: dict[str, Any], field: str, most: int, allow: Callable[[str], bool]) -> list[str]:
    """A list of at most `most` media references, each one `allow` accepts."""
    value = body.get(field) or []
    if not isinstance(value, list) or not all(isinstance(u, str) and u for u in value):
        raise Refused(f"{field} must be a list of URLs", field)
    if len(value) > most:
        raise Refused(f"{field} takes at most {most}, got {len(value)}", field)
    for url in value:
        if not allow(url):
            raise Refused(f"{field} cannot take {url[:40]!r}", field)
    return value


def is_link(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def seconds(value: Any, field: str = "duration") -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in SECONDS:
        raise Refused(f"{field} must be a whole number of seconds from 3 to 10", field)
    return value


def ratio(value: Any, field: str = "aspect_ratio") -> str:
    if value not in RATIOS:
        raise Refused(f"{field} must be 16:9 or 9:16", field)
    return str(value)


def observe(sim: Simulator, task: SimTask) -> tuple[str, int]:
    """The task's (state, progress) now; the moment a poll first sees it done is kept."""
    now = sim.clock()
    state, progress = task.status(now)
    if state == "completed" and task.done_at is None:
        task.done_at = now
    return state, progress


def file_url(sim: Simulator, task: SimTask) -> str:
    return f"{sim.base_url}/files/{task.task_id}.mp4"


def source(sim: Simulator, url: str | None = None, task_id: str | None = None) -> SimTask | None:
    """The finished task whose video an edit starts from: named by id, or by its file URL."""
    if url and (match := _FILE.search(url.split("?")[0])):
        task_id = match.group(1)
    task = sim.tasks.get(task_id or "")
    return task if task is not None and observe(sim, task)[0] == "completed" else None


def edit_shape(sim: Simulator, url: str | None, task_id: str | None = None) -> tuple[int, str]:
    """(duration, aspect ratio) of an edit, which follows its source: a clip sent inline is
    measured, one the simulator made is looked up; any other link is taken as 6 s, 16:9."""
    if url and url.startswith("data:video/"):
        return _measure(url)
    found = source(sim, url, task_id)
    return (found.duration, found.aspect_ratio) if found else (6, "16:9")


def _measure(url: str) -> tuple[int, str]:
    try:
        data = base64.b64decode(url.partition(",")[2], validate=True)
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            length = round((container.duration or 0) / 1_000_000)
            shape = "9:16" if stream.height > stream.width else "16:9"
    except (ValueError, av.FFmpegError, IndexError):
        raise Refused("the clip is not a readable video", "video") from None
    return min(max(length, 1), 10), shape


def expires_at(sim: Simulator, task: SimTask) -> int:
    """Unix seconds the result link dies: result_ttl after the render ended."""
    ended = task.created_wall.timestamp() + (task.finishes_at - task.created)
    return int(ended + sim.config.result_ttl)


def unix(task: SimTask) -> int:
    return int(task.created_wall.timestamp())


def finished_at(task: SimTask) -> int:
    return int(task.created_wall.timestamp() + (task.finishes_at - task.created))
