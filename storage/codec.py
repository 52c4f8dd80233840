"""Task <-> SQLite row. Indexed fields are columns; the rest is one JSON body, so adding a field
to Task needs no migration. Times are stored as integer milliseconds since the epoch (UTC)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from bot.domain import MediaRef, Mode, ReplyTarget, TaskState, VideoRequest
from bot.pricing import settlement
from bot.task import Task

COLUMNS = (
    "task_id",
    "ref",
    "idem_key",
    "state",
    "version",
    "user_key",
    "created_at",
    "updated_at",
    "next_check_at",
    "provider_task_id",
    "body",
)

_TIME_FIELDS = ("submitted_at", "finished_at", "result_expires_at", "deadline_at")
_BODY_FIELDS = (
    "progress",
    "result_url",
    "error_code",
    "error_message",
    "status_message_id",
    "delivery_ref",
    "attempts",
    "polls",
    "retry_of",
    "provider",
    "note",
    "status_posting",
    "estimate",
    "billed",
    "unit",
    "provider_failed",
)


_MEDIA_FIELDS = tuple(f.name for f in fields(MediaRef))
_TARGET_FIELDS = tuple(f.name for f in fields(ReplyTarget))
# One encoder, built once: json.dumps with options builds a new one on every call.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def to_ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def from_ms(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def _media(data: dict[str, Any] | None) -> MediaRef | None:
    return None if data is None else MediaRef(**data)


def _fields(obj: object, names: tuple[str, ...]) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies every value, and this runs on every write.
    return {name: getattr(obj, name) for name in names}


def task_to_row(task: Task) -> tuple[Any, ...]:
    body: dict[str, Any] = {name: getattr(task, name) for name in _BODY_FIELDS}
    body.update({name: to_ms(getattr(task, name)) for name in _TIME_FIELDS})
    req = task.request
    body["request"] = {
        "prompt": req.prompt,
        "mode": req.mode.value,
        "aspect_ratio": req.aspect_ratio,
        "duration": req.duration,
        "images": [_fields(m, _MEDIA_FIELDS) for m in req.images],
        "video": _fields(req.video, _MEDIA_FIELDS) if req.video else None,
        "resolution": req.resolution,
        "previous": req.previous,
    }
    body["target"] = _fields(task.target, _TARGET_FIELDS)
    # Derived, never read back: what the task counts as spent once known, for the backends'
    # spend bookkeeping (SQLite: a trigger settles the task's spend row from these).
    settled = settlement(task)
    if settled is not None:
        body["spent"], body["spent_source"] = settled
    return (
        task.task_id,
        task.ref,
        task.idem_key,
        task.state.value,
        task.version,
        task.target.user_key,
        to_ms(task.created_at),
        to_ms(task.updated_at),
        to_ms(task.next_check_at),
        task.provider_task_id,
        _encode(body),
    )


def row_to_task(row: Any) -> Task:
    task_id, ref, idem_key, state, version, _user, created, updated, next_check, ptid, raw = row
    body = json.loads(raw)
    req = body.pop("request")
    images = tuple(m for m in (_media(i) for i in req["images"]) if m is not None)
    request = VideoRequest(
        prompt=req["prompt"],
        mode=Mode(req["mode"]),
        aspect_ratio=req["aspect_ratio"],
        duration=req["duration"],
        images=images,
        video=_media(req["video"]),
        resolution=req.get("resolution"),  # rows written before these fields were added
        previous=req.get("previous"),
    )
    target = ReplyTarget(**body.pop("target"))
    times: dict[str, Any] = {name: from_ms(body.pop(name, None)) for name in _TIME_FIELDS}
    deadline = times.pop("deadline_at")
    assert deadline is not None, "every task is stored with a deadline"
    return Task(
        task_id=task_id,
        ref=ref,
        idem_key=idem_key,
        request=request,
        target=target,
        state=TaskState(state),
        created_at=from_ms(created) or datetime.now(UTC),
        updated_at=from_ms(updated) or datetime.now(UTC),
        next_check_at=from_ms(next_check),
        version=version,
        provider_task_id=ptid,
        deadline_at=deadline,
        **times,
        **{name: body[name] for name in _BODY_FIELDS if name in body},
    )
