"""A clock tests move by hand: the worker reads `now()` and `monotonic()`, the simulator
reads `monotonic()`. `step_wall` moves the wall clock alone, as NTP or a VM resume does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
        self._origin = self._now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._origin).total_seconds()

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now

    def step_wall(self, seconds: float) -> datetime:
        """The wall clock jumps (NTP, a VM resumed) while monotonic time does not move."""
        self._now += timedelta(seconds=seconds)
        self._origin += timedelta(seconds=seconds)
        return self._now
