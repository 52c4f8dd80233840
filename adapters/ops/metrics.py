"""The Observer port in the Prometheus format, and the small HTTP server that shows it:
`/metrics` (prometheus-client's text format) and `/healthz` (ledger answers + worker heartbeat)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.callback.server import RouteServer
from bot.domain import TaskState
from bot.ledger import SpendLine, SpendQuery
from bot.pricing import MICRO, period_starts
from bot.task import Task

log = logging.getLogger("videobot.metrics")

#: A worker loop turns at least every 30 s even when idle; four missed turns means it is stuck.
STALE_AFTER = 120.0
_LEDGER_TIMEOUT = 5.0
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_VIDEO_BUCKETS = (15.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0, 3600.0)


class CountsByState(Protocol):
    """The ledger queries metrics and health need (SqliteLedger has them)."""

    async def count_by_state(self) -> dict[str, int]: ...

    async def spend(self, query: SpendQuery) -> list[SpendLine]: ...


class PartsHealth(Protocol):
    """Which platform adapters are down and why (bot.supervisor.Health has it)."""

    @property
    def down(self) -> dict[str, str]: ...

    @property
    def up(self) -> set[str]: ...


class PrometheusObserver:
    """Counters in memory, on a registry of its own (so two engines, or two tests, never share
    one). Task counts come from the ledger: `refresh()` reads them, `collect()` serves the last
    reading, because a collector is called synchronously inside the scrape."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._last_beat = monotonic()  # a worker that never beats goes stale from start
        self._beats = 0
        self._counts: dict[str, int] | None = None
        self._spend: dict[str, list[SpendLine]] = {}
        self.registry = CollectorRegistry()
        self.transitions = Counter(
            "videobot_transitions",
            "Task state changes, by the state entered",
            ["to_state"],
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "videobot_provider_request_seconds",
            "One HTTP exchange with the video API, by operation and outcome",
            ["operation", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "videobot_provider_rate_limited",
            "Answers of 429 (rate limited) from the video API",
            registry=self.registry,
        )
        self.delivery_failures = Counter(
            "videobot_delivery_failures",
            "Posts or uploads to a chat platform that failed",
            ["platform", "permanent"],
            registry=self.registry,
        )
        self.time_to_video = Histogram(
            "videobot_time_to_video_seconds",
            "From the command accepted to the video delivered in its thread",
            buckets=_VIDEO_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_LedgerCollector(self))

    # -- the Observer port (sync, cheap, never raises) ---------------------------------------
    def transition(self, task: Task, old: TaskState, new: TaskState) -> None:
        self.transitions.labels(new.value).inc()
        if new is TaskState.DELIVERED:
            self.time_to_video.observe(
                max(0.0, (task.updated_at - task.created_at).total_seconds())
            )

    def provider_call(self, operation: str, seconds: float, outcome: str) -> None:
        self.provider_seconds.labels(operation, outcome).observe(max(0.0, seconds))
        if outcome == "rate_limited":
            self.rate_limited.inc()

    def delivery_failed(self, platform: str, permanent: bool) -> None:
        self.delivery_failures.labels(platform, "true" if permanent else "false").inc()

    def heartbeat(self) -> None:
        self._last_beat = self._monotonic()
        self._beats += 1

    # -- read side ---------------------------------------------------------------------------
    def heartbeat_age(self) -> float:
        """Seconds since the worker loop last turned (since start if it never has)."""
        return max(0.0, self._monotonic() - self._last_beat)

    async def refresh(self, ledger: CountsByState) -> dict[str, int]:
        """Read the task counts now; they are what the next scrape shows. Raises what the
        ledger raises (the caller decides whether that is unhealthy)."""
        counts = await asyncio.wait_for(ledger.count_by_state(), _LEDGER_TIMEOUT)
        month = period_starts(datetime.now(UTC))[1]
        self._spend = {
            by: await asyncio.wait_for(ledger.spend(SpendQuery(month, by)), _LEDGER_TIMEOUT)
            for by in ("workspace", "provider")
        }
        self._counts = counts
        return counts

    def forget_counts(self) -> None:
        """The ledger stopped answering: say so in the scrape rather than show old numbers."""
        self._counts = None

    def scrape(self) -> bytes:
        return render(self.registry)

    def _collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "videobot_ledger_up", "1 if the ledger answered the last read, else 0"
        )
        up.add_metric([], 0.0 if self._counts is None else 1.0)
        yield up
        age = GaugeMetricFamily(
            "videobot_worker_heartbeat_age_seconds", "Seconds since the worker loop last turned"
        )
        age.add_metric([], self.heartbeat_age())
        yield age
        if self._counts is None:
            return
        tasks = GaugeMetricFamily(
            "videobot_tasks", "Tasks in the ledger, by state", labels=["state"]
        )
        for state in TaskState:
            tasks.add_metric([state.value], float(self._counts.get(state.value, 0)))
        yield tasks
        depth = GaugeMetricFamily(
            "videobot_queue_depth", "Tasks accepted and not yet sent to the video API"
        )
        depth.add_metric([], float(self._counts.get(TaskState.ACCEPTED.value, 0)))
        yield depth
        for by, lines in self._spend.items():
            spent = GaugeMetricFamily(
                f"videobot_spend_month_by_{by}",
                f"Spent this calendar month (UTC) by {by}, in the price unit; reservations of "
                "unfinished tasks included",
                labels=[by, "unit"],
            )
            for line in lines:
                spent.add_metric([line.key, line.unit], line.spent / MICRO)
            yield spent


class _LedgerCollector(Collector):
    """Gauges computed at scrape time from the observer's last ledger reading."""

    def __init__(self, observer: PrometheusObserver) -> None:
        self._observer = observer

    def collect(self) -> Iterator[Metric]:
        return self._observer._collect()


class MetricsServer:
    """`/metrics` and `/healthz` on their own port (aiohttp). Each request reads the ledger
    first, so a scrape shows counts as of that scrape and a probe proves the ledger answers."""

    def __init__(
        self,
        observer: PrometheusObserver,
        ledger: CountsByState,
        host: str = "127.0.0.1",
        port: int = 0,
        stale_after: float = STALE_AFTER,
        health: PartsHealth | None = None,
        routes: Sequence[web.RouteDef] = (),
    ) -> None:
        """`routes`: more endpoints served on this port (provider callbacks, when they have
        no port of their own)."""
        self._health = health
        self._routes = list(routes)
        self._observer = observer
        self._ledger = ledger
        self._host = host
        self._requested_port = port
        self._stale_after = stale_after
        self._server: RouteServer | None = None

    @property
    def port(self) -> int | None:
        """The bound port, once started (port 0 picks one)."""
        return self._server.port if self._server is not None else None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> None:
        routes = [web.get("/metrics", self._metrics), web.get("/healthz", self._healthz)]
        self._server = RouteServer(
            [*routes, *self._routes],
            self._host,
            self._requested_port,
            name="metrics",
            setting="VIDEOBOT_METRICS_PORT",
            paths="/metrics, /healthz",
        )
        await self._server.start()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set (one task in the composition root's TaskGroup); binds
        first unless `start()` already did."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve(stop)

    async def _read_ledger(self) -> tuple[dict[str, int] | None, str]:
        try:
            return await self._observer.refresh(self._ledger), "ok"
        except (sqlite3.Error, ValueError, OSError, TimeoutError, RuntimeError) as err:
            # aiosqlite raises ValueError on a closed connection; LedgerError is a RuntimeError.
            self._observer.forget_counts()
            return None, f"error: {type(err).__name__}: {err}"

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._read_ledger()  # a failed read shows as videobot_ledger_up 0
        return web.Response(
            body=self._observer.scrape(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        counts, ledger = await self._read_ledger()
        age = self._observer.heartbeat_age()
        alive = age < self._stale_after
        worker = "alive" if alive else f"stale: no heartbeat for {math.floor(age)}s"
        body: dict[str, object] = {
            "ledger": ledger,
            "worker": worker,
            "heartbeat_age_seconds": round(age, 3),
        }
        if counts is not None:
            body["tasks"] = counts
        if self._health is not None:
            # A platform that is down is reported, not fatal: the process keeps serving the
            # others and reconnects it, and a restart (what a failed probe leads to) would
            # only interrupt them.
            platforms = {name: "up" for name in sorted(self._health.up)}
            down = {name: f"down: {why}" for name, why in self._health.down.items()}
            body["platforms"] = platforms | down
        healthy = counts is not None and alive
        return web.Response(
            status=200 if healthy else 503,
            text=json.dumps(body),
            content_type="application/json",
        )
