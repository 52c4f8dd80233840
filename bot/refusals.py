"""A cap's refusal restated for the person who met it: the daily count with its reset time,
the concurrency cap, or the budget with its limit, spend and reset time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import messages, outcomes, spending
from bot.errors import BudgetExceeded, QuotaExceeded
from bot.pricing import PriceTable, cheapest

if TYPE_CHECKING:
    from bot.domain import Profile
    from bot.task import Task


def restated(
    err: QuotaExceeded, task: Task, now: datetime, prices: tuple[PriceTable, Profile]
) -> QuotaExceeded:
    """`err` (the ledger's refusal of `task`) with the words its requester reads; `prices`
    (the price table and the profile) tell whether a smaller video could still fit."""
    if isinstance(err, BudgetExceeded):
        table, profile = prices
        least = cheapest(table, profile.durations, profile.resolutions)
        fits = least is not None and err.spent + least <= err.limit
        text = spending.refusal(err, task, now, fits)
        return BudgetExceeded(text, err.scope, err.period, err.limit, err.spent, err.unit)
    if err.kind == "concurrent":
        return QuotaExceeded(messages.CONCURRENT_LIMIT.format(limit=err.limit), err.kind, err.limit)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    text = messages.DAILY_LIMIT.format(
        limit=err.limit, wait=outcomes.human_duration(midnight - now)
    )
    return QuotaExceeded(text, err.kind, err.limit)
