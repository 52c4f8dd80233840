"""Prometheus: this month's spend by workspace and by provider, read from the ledger at each
scrape, served on /metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapters.ops.metrics import MetricsServer, PrometheusObserver
from bot.domain import ReplyTarget
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_reports import spend
from tests.fakes.clock import FakeClock


async def test_spend_by_workspace_and_provider_is_scraped(
    ledger: SqliteLedger, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(datetime.now(UTC))
    await spend(ledger, ReplyTarget("slack", "T1", "C1", "U1"), "0.72", clock)
    await spend(ledger, ReplyTarget("slack", "T1", "C2", "U2"), "1.20", clock)
    await spend(ledger, ReplyTarget("discord", "G9", "C3", "U3"), "0.10", clock, provider="fal")
    observer = PrometheusObserver()
    server = MetricsServer(observer, ledger, "127.0.0.1", 0)
    await server.start()
    try:
        text = (await http.get(f"{server.url}/metrics")).text
    finally:
        await server.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("videobot_spend")
    }
    assert samples == {
        ("videobot_spend_month_by_workspace", (("unit", "USD"), ("workspace", "slack:T1"))): 1.92,
        ("videobot_spend_month_by_workspace", (("unit", "USD"), ("workspace", "discord:G9"))): 0.1,
        ("videobot_spend_month_by_provider", (("provider", "guide"), ("unit", "USD"))): 1.92,
        ("videobot_spend_month_by_provider", (("provider", "fal"), ("unit", "USD"))): 0.1,
    }
