"""`videobot usage` against a ledger with known tasks: the table, JSON lines and CSV, grouped
each way, and the start of the month as the default."""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.ops.doctor import check_ledger
from adapters.ops.spend import price_check
from bot.budget_start import start_budgets
from bot.config import Settings
from bot.domain import ReplyTarget
from bot.pricing import micros
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import accepted
from tests.bot.test_reports import spend
from tests.fakes.clock import FakeClock
from tests.test_cli import videobot


async def known_ledger(db: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    async with SqliteLedger.open(db) as ledger:
        await spend(ledger, ReplyTarget("slack", "T1", "C1", "U1"), "0.72", clock)
        await spend(ledger, ReplyTarget("slack", "T1", "C2", "U2"), "1.20", clock)
        await spend(ledger, ReplyTarget("slack", "T1", "C2", "U2"), "0.72", clock)
        await spend(ledger, ReplyTarget("discord", "G9", "C3", "U3"), "0.10", clock)


async def test_usage_table_json_and_csv(tmp_path: Path) -> None:
    db = tmp_path / "spend.db"
    await known_ledger(db)
    env = {"VIDEOBOT_DB": str(db)}
    table = videobot(["usage"], tmp_path, extra=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("spend by user since ") and lines[0].endswith("-01 00:00 UTC")
    assert [line.split() for line in lines[1:]] == [
        ["USER", "UNIT", "TASKS", "SPENT", "STILL", "RESERVED"],
        ["slack:T1:U2", "USD", "2", "$1.92", "$0.00"],
        ["slack:T1:U1", "USD", "1", "$0.72", "$0.00"],
        ["discord:U3", "USD", "1", "$0.10", "$0.00"],
        ["TOTAL", "USD", "4", "$2.74", "$0.00"],
    ]
    print(table.stdout)  # the sample table for the closing note

    by_ws = videobot(["usage", "--by", "workspace", "--json"], tmp_path, extra=env)
    assert [json.loads(r) for r in by_ws.stdout.splitlines()] == [
        {"key": "slack:T1", "unit": "USD", "tasks": 3, "spent": "2.64", "reserved": "0.00"},
        {"key": "discord:G9", "unit": "USD", "tasks": 1, "spent": "0.10", "reserved": "0.00"},
    ]
    by_channel = videobot(
        ["usage", "--by", "channel", "--csv", "--since", "1d"], tmp_path, extra=env
    )
    rows = list(csv.reader(io.StringIO(by_channel.stdout)))
    assert rows[0] == ["channel", "unit", "tasks", "spent", "reserved"]
    assert rows[1] == ["slack:C2", "USD", "2", "1.92", "0.00"]
    by_day = videobot(["usage", "--by", "day", "--json"], tmp_path, extra=env)
    (day,) = [json.loads(r) for r in by_day.stdout.splitlines()]
    assert day["key"] == datetime.now(UTC).strftime("%Y-%m-%d") and day["spent"] == "2.74"
    future = videobot(["usage", "--since", "2999-01-01"], tmp_path, extra=env)
    assert "(nothing spent)" in future.stdout
    bad = videobot(["usage", "--since", "someday"], tmp_path, extra=env)
    assert bad.returncode == 2 and "cannot read --since" in bad.stderr
    missing = videobot(["usage"], tmp_path, extra={"VIDEOBOT_DB": str(tmp_path / "none.db")})
    assert missing.returncode == 1 and "no ledger at" in missing.stderr


def test_doctor_shows_the_prices_budgets_and_threshold_in_force(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIDEOBOT_PROVIDER", "evolink")
    monkeypatch.setenv("VIDEOBOT_BUDGET_WORKSPACE_MONTH", "5000")
    monkeypatch.setenv("VIDEOBOT_CONFIRM_ABOVE", "120")
    row = price_check(Settings())
    assert row.ok and row.detail == (
        "720p 10.2 credits/s; budgets workspace per month 5000 credits; confirm above 120 credits"
    )
    monkeypatch.setenv("VIDEOBOT_PRICES", "clip=0.5")
    monkeypatch.setenv("VIDEOBOT_PRICE_UNIT", "USD")
    assert price_check(Settings()).detail.startswith("$0.50 a clip; budgets workspace")


def test_doctor_shows_the_token_rate_in_force(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOBOT_PROVIDER", "google")
    assert price_check(Settings()).detail == (
        "360p $0.05/s, 720p $0.10/s, 1080p $0.20/s, 4k $0.40/s; reported video tokens at "
        "360p $34.53, 720p $17.27, 1080p $15.35, 4k $7.67 per million"
    )
    monkeypatch.setenv("VIDEOBOT_PRICES", "tokens=20")
    assert "; reported video tokens at $20.00 per million" in price_check(Settings()).detail


def test_doctor_warns_when_no_video_fits_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOBOT_PROVIDER", "evolink")
    monkeypatch.setenv("VIDEOBOT_BUDGET_USER_DAY", "5")
    row = price_check(Settings())
    assert row.mark == "WARN" and row.ok  # the bot starts, and the operator is told why
    assert "the cheapest video costs 30.6 credits, more than user per day 5 credits" in (
        row.detail
    )
    assert "no video can be made" in row.fix
    monkeypatch.setenv("VIDEOBOT_BUDGET_USER_DAY", "500")
    assert price_check(Settings()).mark == "PASS"


async def test_doctor_and_start_warn_when_the_price_unit_changed_this_month(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "ledger.db"
    async with SqliteLedger.open(db) as ledger:
        task = replace(accepted(), created_at=datetime.now(UTC), estimate=micros("0.8"))
        await ledger.add(replace(task, unit="USD", updated_at=task.created_at))
        assert await check_ledger(db, "USD") == (await check_ledger(db, "USD"))[:1]
        (_, unit) = await check_ledger(db, "EUR")
        assert unit.mark == "WARN" and unit.detail == (
            "VIDEOBOT_PRICE_UNIT is EUR, but $0.80 was spent this month in another unit: "
            "budgets count EUR only, so they start again from zero until the month ends"
        )
        with caplog.at_level(logging.WARNING, "videobot.spend"):
            await start_budgets(ledger, [], "EUR", datetime.now(UTC))
        assert "VIDEOBOT_PRICE_UNIT is EUR, but $0.80 was spent" in caplog.text
