"""Prices: every provider profile's estimate, settings overrides, the cost from each provider's
usage shape, how an ended task counts as spent, and how money is written."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from bot import spending
from bot.config import Settings
from bot.domain import Mode, TaskState, VideoRequest
from bot.pricing import (
    CREDITS,
    PriceTable,
    Usage,
    actual,
    estimate,
    micros,
    money,
    period_end,
    period_starts,
    settlement,
)
from bot.providers import PROVIDERS
from tests.bot.test_domain import T0, accepted


def request(duration: int = 8, resolution: str | None = None) -> VideoRequest:
    return VideoRequest("a fox", Mode.T2V, "16:9", duration, resolution=resolution)


# Every provider's default 8 s (6 s on the guide's gateways) at its default resolution.
EXPECTED = {
    "guide": ("$0.72", 6),
    "toapis": ("$0.72", 6),
    "google": ("$0.80", 8),
    "vertex": ("$0.80", 8),
    "apimart": ("$0.80", 8),
    "evolink": ("81.6 credits", 8),
    "fal": ("$1.20", 8),
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_profile_prices_its_default_request(name: str) -> None:
    profile = PROVIDERS[name]
    text, seconds = EXPECTED[name]
    assert profile.allows.default_duration == seconds
    cost = estimate(request(seconds), profile.prices, profile.allows.default_resolution)
    assert cost is not None and money(cost, profile.prices.unit) == text


def test_google_prices_by_resolution_and_a_missing_one_at_the_dearest() -> None:
    table = PROVIDERS["google"].prices
    assert money(estimate(request(8, "4k"), table, "720p") or 0, "USD") == "$3.20"
    assert money(estimate(request(8, "360p"), table, "720p") or 0, "USD") == "$0.40"
    gateway = PROVIDERS["guide"].prices
    assert estimate(request(10, "1080p"), gateway, "720p") == micros("1.20")


def test_settings_override_the_profile_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOBOT_PROVIDER", "fal")
    monkeypatch.setenv("VIDEOBOT_PRICES", "720p=0.125")
    monkeypatch.setenv("VIDEOBOT_PRICE_UNIT", "EUR")
    table = Settings().prices_in_force
    assert table.unit == "EUR" and estimate(request(8), table, "720p") == micros("1.00")
    monkeypatch.setenv("VIDEOBOT_PRICES", "clip=0.5")
    table = Settings().prices_in_force
    assert table.per_clip == micros("0.5") and table.per_second == ()
    assert money(estimate(request(10), table, "720p") or 0, table.unit) == "€0.50"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("VIDEOBOT_PRICES", "720p=cheap", "give an amount like 0.12"),
        ("VIDEOBOT_PRICES", "8k=1", "8k is not priced"),
        ("VIDEOBOT_PRICES", "720p=-1", "0 or more"),
        ("VIDEOBOT_BUDGET_CHANNELS", "C123=20", "slack:C123"),
        ("VIDEOBOT_BUDGET_USER_DAY", "-3", "greater than or equal to 0"),
        # Amounts the ledger cannot keep are refused at start, not met mid-request.
        ("VIDEOBOT_BUDGET_USER_MONTH", "1e30", "more than the most accepted, 1,000,000,000"),
        ("VIDEOBOT_CONFIRM_ABOVE", "1e30", "VIDEOBOT_CONFIRM_ABOVE: 1E"),
        ("VIDEOBOT_PRICES", "720p=2e12", "more than the most accepted, 1,000,000"),
        ("VIDEOBOT_BUDGET_CHANNELS", "slack:C1=1e30", "more than the most accepted"),
        ("VIDEOBOT_PRICES", "720p=0.0000001", "below the smallest amount kept, 0.000001"),
        # A setting given twice, or that says two things, is refused rather than guessed at.
        ("VIDEOBOT_PRICES", "720p=0.12,720P=0.5", "720P is given twice"),
        ("VIDEOBOT_BUDGET_CHANNELS", "slack:C1=2,slack:C1=3", "slack:C1 is given twice"),
        ("VIDEOBOT_BUDGET_CHANNELS", "bogus:x=3", "bogus is not a platform"),
        ("VIDEOBOT_PRICES", "clip=0.5,720p=0.1", "a price per clip or prices per second"),
    ],
)
def test_wrong_money_settings_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=complaint):
        Settings()


def test_budget_settings_become_budgets_in_the_price_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDEOBOT_PROVIDER", "evolink")
    monkeypatch.setenv("VIDEOBOT_BUDGET_USER_DAY", "100")
    monkeypatch.setenv("VIDEOBOT_BUDGET_WORKSPACE_MONTH", "5000.5")
    monkeypatch.setenv("VIDEOBOT_BUDGET_CHANNELS", "slack:C1=20, discord:42=7.25")
    settings = Settings()
    budgets = settings.budget_list(settings.prices_in_force.unit)
    assert {(b.scope, b.period, b.subject, b.limit, b.unit) for b in budgets} == {
        ("user", "day", "*", micros(100), CREDITS),
        ("workspace", "month", "*", micros("5000.5"), CREDITS),
        ("channel", "month", "slack:C1", micros(20), CREDITS),
        ("channel", "month", "discord:42", micros("7.25"), CREDITS),
    }


def test_actual_cost_from_each_providers_usage_shape() -> None:
    google, evolink, fal = (PROVIDERS[n].prices for n in ("google", "evolink", "fal"))
    # Google: 5,792 video tokens per second of 720p, priced at 720p's $0.10 a second.
    assert actual(Usage(video_tokens=5792 * 8), google, request(8), "720p") == micros("0.8")
    assert actual(Usage(video_tokens=52128 * 8), google, request(8, "4k"), "720p") == micros("3.2")
    flat = replace(google, per_million_tokens=micros("17.27"))  # a contract priced per token
    assert actual(Usage(video_tokens=5792 * 8), flat, request(8), "720p") == 800_223
    assert actual(Usage(credits=Decimal("81.6")), evolink, request(8), "720p") == micros("81.6")
    assert actual(Usage(billed_seconds=Decimal(8)), fal, request(8), "720p") == micros("1.2")
    assert actual(Usage(billed=False), fal, request(8), "720p") == 0
    # A report this table cannot price leaves the estimate standing.
    assert actual(Usage(credits=Decimal(5)), google, request(8), "720p") is None
    clip = PriceTable(per_clip=micros("0.5"))
    assert actual(Usage(billed_seconds=Decimal(10)), clip, request(10), "720p") == micros("0.5")


def priced(state: TaskState, sent: bool = True, billed: int | None = None) -> object:
    task = replace(accepted(), estimate=micros("0.6"), unit="USD", billed=billed, state=state)
    return settlement(replace(task, provider_task_id="p1" if sent else None))


def test_what_an_ended_task_counts_as_spent() -> None:
    assert priced(TaskState.RUNNING) is None  # the reservation stands
    assert priced(TaskState.DELIVERED) == (micros("0.6"), "estimate")
    assert priced(TaskState.DELIVERED, billed=micros("0.55")) == (micros("0.55"), "provider")
    assert priced(TaskState.SUCCEEDED, billed=micros("0.55")) == (micros("0.55"), "provider")
    assert priced(TaskState.FAILED) == (micros("0.6"), "unknown")  # lost sight of it
    failed = replace(accepted(), estimate=micros("0.6"), state=TaskState.FAILED)
    assert settlement(replace(failed, provider_failed=True)) == (0, "not_billed")
    assert settlement(replace(failed, provider_failed=True, billed=0)) == (0, "not_billed")
    assert priced(TaskState.FAILED, billed=micros("0.2")) == (micros("0.2"), "provider")
    assert priced(TaskState.UNKNOWN, sent=False) == (micros("0.6"), "unknown")
    assert priced(TaskState.REJECTED, sent=False) == (0, "released")
    assert priced(TaskState.CANCELLED, sent=False) == (0, "released")
    assert priced(TaskState.CANCELLED) == (micros("0.6"), "estimate")
    assert priced(TaskState.TIMED_OUT) == (micros("0.6"), "estimate")
    assert settlement(replace(accepted(), state=TaskState.DELIVERED)) is None  # not priced


def test_money_is_written_plainly() -> None:
    assert money(micros("0.6"), "USD") == "$0.60"
    assert money(micros("1234.5"), "EUR") == "€1234.50"
    assert money(micros("3.5"), "CHF") == "3.50 CHF"
    assert money(micros("0.004"), "USD") == "under $0.01"
    assert money(0, "USD") == "$0.00"
    assert money(micros("81.6"), CREDITS) == "81.6 credits"
    assert money(micros(1), CREDITS) == "1 credit"
    assert money(micros(40), CREDITS) == "40 credits"
    assert money(micros(1500), "JPY") == "¥1500" and money(micros("0.4"), "JPY") == "under ¥1"
    assert money(micros(1500), "KRW") == "1500 KRW"


def test_a_tiny_estimate_is_not_about_under_a_cent() -> None:
    tiny = replace(accepted(), estimate=micros("0.000008"), unit="USD")
    assert spending.about(tiny) == "under $0.01"
    assert spending.about(replace(tiny, estimate=micros("0.6"))) == "about $0.60"
    delivered = replace(tiny, state=TaskState.DELIVERED)
    assert spending.cost_words(delivered) == "Cost: under $0.01."


def test_a_reset_a_moment_away_is_not_in_0s() -> None:
    midnight = T0.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert spending.reset_words("day", midnight - timedelta(microseconds=1)) == (
        "at 00:00 UTC",
        "1s",
    )


def test_periods_are_the_utc_day_and_calendar_month() -> None:
    day, month = period_starts(T0)
    assert (day.day, day.hour, month.day, month.month) == (24, 0, 1, 11)
    assert period_end("day", T0) == day.replace(day=25)
    assert period_end("month", T0) == month.replace(month=12)
    assert period_end("month", T0.replace(month=12)) == month.replace(year=2027, month=1)


def test_a_huge_budget_is_named_once_in_the_start_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError  # noqa: PLC0415

    from bot.cli import invalid_settings  # noqa: PLC0415

    monkeypatch.setenv("VIDEOBOT_BUDGET_USER_MONTH", "1e30")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert invalid_settings(refused.value).splitlines()[1:] == [
        "  VIDEOBOT_BUDGET_USER_MONTH: 1E+30 is more than the most accepted, 1,000,000,000"
    ]
