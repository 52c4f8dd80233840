"""The simulator's knobs: how long renders take, which faults it injects, and the type check
each change through `/_sim/config` must pass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SimConfig:
    render_seconds: float = 8.0
    queue_seconds: float = 1.0
    fail_rate: float = 0.0
    never_finish_rate: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    latency: float = 0.0
    submit_latency: float = 0.0
    drop_after_submit: float = 0.0
    error_after_submit: float = 0.0  # create the task, then answer 500 (ambiguous to a client)
    honour_idempotency: bool = True
    api_key: str | None = None
    retry_after: float = 1.0
    result_ttl: float = 86400.0
    durations: tuple[int, ...] = (4, 6, 10)
    video_height: int = 360
    seed: int | None = None
    dialect: str = "auto"  # the wire format served (fixed at start: it chooses the routes)
    state_file: str | None = None  # remember tasks across restarts (the demo's), fixed at start


_FLOAT_KNOBS = frozenset(f.name for f in fields(SimConfig) if f.type in ("float", float))


def knob(name: str, value: Any) -> Any:
    """Type-check one /_sim/config change, so a typo cannot break every later request."""
    if name in _FLOAT_KNOBS:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a number >= 0")
        return float(value)
    if name == "honour_idempotency":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "api_key":
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or null")
        return value
    if name == "durations":
        items = tuple(value)
        if not items or not all(isinstance(d, int) and not isinstance(d, bool) for d in items):
            raise ValueError(f"{name} must be a list of whole seconds")
        return items
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{name} must be an integer")
    if name == "video_height" and (value is None or value < 16):
        raise ValueError(f"{name} must be an integer >= 16")
    return value
