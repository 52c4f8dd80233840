"""What a video costs: a provider's price table, the estimate of a request, the actual cost of
a task from what the provider reported (its usage), and what a task that ended counts as spent.
Money is integer micro-units (1 = 0.000001 of the unit: a dollar, a euro or a credit), never a
float, so sums are exact in every backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from bot.domain import Mode, TaskState, VideoRequest

if TYPE_CHECKING:
    from bot.task import Task

MICRO = 1_000_000
CREDITS = "credits"
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
# Currencies without minor units (ISO 4217 exponent 0): shown in whole units.
_WHOLE = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF"})


def micros(amount: Decimal | int | str) -> int:
    """`amount` units as micro-units, rounded half up (Decimal in, exact)."""
    return int((Decimal(amount) * MICRO).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class PriceTable:
    """A provider's prices in micro-units of `unit` (`USD`, `EUR`, `GBP` or `credits`): per
    second of video by resolution, or a flat price per clip; Google's per million output video
    tokens turns its reported tokens into money."""

    unit: str = "USD"
    per_second: tuple[tuple[str, int], ...] = ()
    per_clip: int | None = None
    per_million_tokens: int | None = None
    # Output video tokens a second of video is billed at, by resolution (Google's): a task's
    # reported tokens are priced at its resolution's per-second rate, unless a flat
    # `per_million_tokens` (a contract priced per token) is set.
    tokens_per_second: tuple[tuple[str, int], ...] = ()

    @property
    def priced(self) -> bool:
        return bool(self.per_second) or self.per_clip is not None

    def second_price(self, resolution: str) -> int | None:
        """The price of a second at `resolution`; a resolution the table leaves out costs
        what its dearest one does (an estimate errs on the side of the budget)."""
        rates = dict(self.per_second)
        if resolution in rates:
            return rates[resolution]
        return max(rates.values()) if rates else None

    def token_price(self, resolution: str) -> Decimal | None:
        """Micro-units per output video token at `resolution`: the flat per-million price when
        one is set, else the resolution's per-second price over its tokens per second; None
        when tokens cannot be priced (a per-clip table prices the clip, not its tokens)."""
        if self.per_million_tokens is not None:
            return Decimal(self.per_million_tokens) / MICRO
        if self.per_clip is not None:
            return None
        rate, tokens = self.second_price(resolution), dict(self.tokens_per_second).get(resolution)
        return None if rate is None or not tokens else Decimal(rate) / tokens


@dataclass(frozen=True, slots=True)
class Usage:
    """What a provider reported a task cost, in its own terms (each field only when it said
    so): Google's output video tokens, evolink's credits, fal's billed seconds; `billed` is
    False when the provider said the task was not charged."""

    video_tokens: int | None = None
    credits: Decimal | None = None
    billed_seconds: Decimal | None = None
    billed: bool | None = None


def estimate(request: VideoRequest, table: PriceTable, default_resolution: str) -> int | None:
    """The request's price before it is sent, or None when the table prices nothing."""
    if table.per_clip is not None:
        return table.per_clip
    rate = table.second_price(request.resolution or default_resolution)
    return None if rate is None else rate * request.duration


def cheapest(
    table: PriceTable, durations: tuple[int, ...], resolutions: tuple[str, ...]
) -> int | None:
    """The least any video of those durations and resolutions is estimated at (None: not
    priced), e.g. to tell whether a shorter or smaller video could fit what a budget leaves."""
    found = [
        estimate(VideoRequest("-", Mode.T2V, "16:9", seconds, resolution=res), table, res)
        for seconds in durations or (1,)
        for res in resolutions or ("720p",)
    ]
    priced = [amount for amount in found if amount is not None]
    return min(priced) if priced else None


def actual(
    usage: Usage, table: PriceTable, request: VideoRequest, default_resolution: str
) -> int | None:
    """The task's cost from what the provider reported, or None when the report says nothing
    this table can price (the estimate then stands)."""
    if usage.billed is False:
        return 0
    if usage.credits is not None and table.unit == CREDITS:
        return micros(usage.credits)
    resolution = request.resolution or default_resolution
    if usage.video_tokens is not None:
        if table.per_clip is not None and table.per_million_tokens is None:
            return table.per_clip if usage.video_tokens > 0 else 0
        per_token = table.token_price(resolution)
        if per_token is not None:
            cost = Decimal(usage.video_tokens) * per_token
            return int(cost.to_integral_value(rounding=ROUND_HALF_UP))
    if usage.billed_seconds is not None:
        if table.per_clip is not None:
            return table.per_clip if usage.billed_seconds > 0 else 0
        rate = table.second_price(resolution)
        if rate is not None:
            return int((usage.billed_seconds * rate).to_integral_value(rounding=ROUND_HALF_UP))
    return None


# How a task that ended counts against budgets: `provider` (its reported cost), `estimate`
# (billed, but the provider reported no figure), `unknown` (it may have been billed: counted),
# `not_billed` (the provider reported the render failed, which it does not charge), `released`
# (never sent: refused, or cancelled before it went out).
SOURCES = ("provider", "estimate", "unknown", "not_billed", "released")


def settlement(task: Task) -> tuple[int, str] | None:
    """(micro-units spent, source) once known; None while the reservation (the estimate)
    still stands. A task without an estimate (no prices) spends nothing measurable."""
    if task.estimate is None:
        return None
    if task.billed is not None and task.state is not TaskState.FAILED:
        return task.billed, "provider"
    state = task.state
    if state.is_live:
        return None
    sent = task.provider_task_id is not None
    if state in (TaskState.DELIVERED, TaskState.UNDELIVERABLE):
        return task.estimate, "estimate"
    if state is TaskState.FAILED:
        if task.billed is not None:  # the provider said what it charged (0: nothing)
            return (task.billed, "provider") if task.billed else (0, "not_billed")
        # A render the provider reported failed is not charged; a task it stopped knowing
        # about, or whose poll it refused, was accepted and may have been billed.
        return (0, "not_billed") if task.provider_failed else (task.estimate, "unknown")
    if state is TaskState.UNKNOWN:
        return task.estimate, "unknown"
    if state in (TaskState.CANCELLED, TaskState.TIMED_OUT) and sent:
        return task.estimate, "estimate"  # the provider had it and may still bill it
    return 0, "released"


def money(amount: int, unit: str) -> str:
    """`$0.60`, `€1.20`, `61.2 credits`, `3.50 CHF`; an amount under a cent is not shown as
    free (`under $0.01`)."""
    value = Decimal(amount) / MICRO
    if unit == CREDITS:
        text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return f"{text} credit" if text == "1" else f"{text} credits"
    step = Decimal(1) if unit in _WHOLE else Decimal("0.01")
    cents = value.quantize(step, rounding=ROUND_HALF_UP)
    if amount > 0 and cents == 0:
        return f"under {money(micros(step), unit)}"
    symbol = _SYMBOLS.get(unit)
    return f"{symbol}{cents:f}" if symbol else f"{cents:f} {unit}"


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """The starts of the UTC day and the calendar month `now` is in (budgets' periods)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


def period_end(period: str, now: datetime) -> datetime:
    """When the budget period `now` is in (`day` or `month`) resets."""
    day, month = period_starts(now)
    if period == "day":
        return day + timedelta(days=1)
    return (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )
