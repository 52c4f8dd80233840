"""What keeps callbacks cheap whatever the sender does: a delivery id seen before is dropped
(providers deliver at least once; an attacker may replay), and one task is hurried at most once
per window however many notices name it. Both are bounded in memory and filled only after a
signature checked out (and, for the window, only for ids that named a task of ours)."""

from __future__ import annotations

from collections import OrderedDict

SEEN_FOR_S = 600.0  # longer than the five-minute signature window: a replay is older
HURRY_WINDOW_S = 5.0
CAPACITY = 20_000


class _Recent:
    """Keys with the time they were recorded, oldest first, forgotten after `ttl`."""

    def __init__(self, ttl: float, capacity: int) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._at: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._at

    def add(self, key: str, now: float) -> None:
        self.expire(now)
        self._at[key] = now
        self._at.move_to_end(key)
        while len(self._at) > self._capacity:
            self._at.popitem(last=False)

    def discard(self, key: str) -> None:
        self._at.pop(key, None)

    def expire(self, now: float) -> None:
        while self._at:
            key, at = next(iter(self._at.items()))
            if now - at < self._ttl:
                return
            del self._at[key]


class Guard:
    def __init__(
        self,
        seen_for: float = SEEN_FOR_S,
        hurry_window: float = HURRY_WINDOW_S,
        capacity: int = CAPACITY,
    ) -> None:
        self._deliveries = _Recent(seen_for, capacity)
        self._hurried = _Recent(hurry_window, capacity)

    def first_time(self, delivery: str, now: float) -> bool:
        """True the first time a delivery id is seen (and records it)."""
        self._deliveries.expire(now)
        if delivery in self._deliveries:
            return False
        self._deliveries.add(delivery, now)
        return True

    def forget(self, delivery: str) -> None:
        """The delivery could not be acted on: let the sender's retry through."""
        self._deliveries.discard(delivery)

    def may_hurry(self, provider_task_id: str, now: float) -> bool:
        self._hurried.expire(now)
        return provider_task_id not in self._hurried

    def hurried(self, provider_task_id: str, now: float) -> None:
        self._hurried.add(provider_task_id, now)
