"""What a verified callback tells us: its delivery id (to drop repeats) and the provider's task
id(s) it names. Bodies are thin and differ by provider (Google `data.id`, fal `request_id`,
evolink and the gateways `id` or `task_id`), so every field a provider has been seen to use is
read, and nothing else is trusted: the poll that follows decides what happened."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_ID = 256  # the provider client keeps no longer ids


class CallbackRefused(Exception):
    """A callback changes nothing; `status` is the answer and `reason` a fixed word for it
    (never the body, a header or a secret: the sender may be anyone)."""

    status = 401
    reason = "signature"


class Unverified(CallbackRefused):
    """Missing, stale or wrong signature."""


class Malformed(CallbackRefused):
    status = 400
    reason = "malformed"


class KeysUnavailable(CallbackRefused):
    """The provider's public keys could not be fetched: the sender should try again later."""

    status = 503
    reason = "keys unavailable"


@dataclass(frozen=True, slots=True)
class Notice:
    delivery_id: str
    task_ids: tuple[str, ...]


class _Ids(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    id: str | None = None
    task_id: str | None = None
    request_id: str | None = None
    name: str | None = None  # Google resource names: "interactions/v1_..."


class _Body(_Ids):
    data: _Ids | None = None


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed from None


def task_ids(data: Any) -> tuple[str, ...]:
    """The provider task ids a callback body (or JWT claims) may name, most specific first;
    a resource name `a/b/ID` is tried whole and as its last segment."""
    if not isinstance(data, dict):
        return ()
    try:
        body = _Body.model_validate(data)
    except ValidationError:
        return ()
    found: list[str] = []
    for source in (body.data, body):
        if source is None:
            continue
        for value in (source.id, source.task_id, source.request_id, source.name):
            for candidate in (value, value.rsplit("/", 1)[-1] if value else None):
                if candidate and len(candidate) <= MAX_ID and candidate not in found:
                    found.append(candidate)
    return tuple(found[:4])
