"""Usage a provider reports outside the poll answer's body, attached to the status the core
reads: fal's billed units come in a result's header; evolink reports the credits it holds for a
task only when the task is created, so they are kept in memory until its poll says it
succeeded (after a restart they are gone, and the estimate stands)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.ports import ProviderState, ProviderStatus
from bot.pricing import Usage

# fal's own header on a result: the units (seconds of video, for a video model) it billed.
BILLABLE_UNITS = "x-fal-billable-units"


def billed_units(status: ProviderStatus, headers: Mapping[str, str]) -> ProviderStatus:
    """`status` with the billed units an answer's header reported, when it did (and the
    status carries no usage of its own)."""
    raw = headers.get(BILLABLE_UNITS)
    if raw is None or status.usage is not None or status.state is not ProviderState.SUCCEEDED:
        return status
    try:
        units = Decimal(raw.strip())
    except InvalidOperation:
        return status
    if not units.is_finite() or units < 0:
        return status
    return replace(status, usage=Usage(billed_seconds=units, billed=units > 0))


class ReportedUsage:
    """What each task's submit answer reported it would cost, by provider task id."""

    def __init__(self, cap: int = 20_000) -> None:
        self._held: OrderedDict[str, Usage] = OrderedDict()
        self._cap = cap

    def submitted(self, dialect: object, provider_task_id: str, answer: Any) -> None:
        """Keep the usage the dialect reads in a submit answer (`submit_usage`), if any."""
        read = getattr(dialect, "submit_usage", None)
        usage = read(answer) if read is not None else None
        if usage is None:
            return
        self._held[provider_task_id] = usage
        while len(self._held) > self._cap:  # the oldest go first: their estimate stands
            self._held.popitem(last=False)

    def polled(self, provider_task_id: str, status: ProviderStatus) -> ProviderStatus:
        """`status` with the kept usage once it succeeded (a final status forgets it)."""
        if status.state in (ProviderState.QUEUED, ProviderState.RUNNING, ProviderState.UNKNOWN):
            return status
        usage = self._held.pop(provider_task_id, None)
        if usage is None or status.usage is not None or status.state is not ProviderState.SUCCEEDED:
            return status
        return replace(status, usage=usage)
