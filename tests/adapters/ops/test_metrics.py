"""/metrics and /healthz over loopback, on a real engine (ledger file, HTTP provider, simulator):
every figure is checked against the simulator's own counters or the ledger's own times."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from PIL import Image
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from adapters.media.intake import MediaIntake
from adapters.ops.metrics import MetricsServer, PrometheusObserver
from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.simulator.server import RunningSimulator
from bot.domain import Mode, Profile, TaskState, VideoRequest
from bot.errors import DeliveryError, DeliveryTransient, RateLimited
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.supervisor import Health
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import SIM_KEY, TEST_POLICY, Engine, loopback_fetcher, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class BeatingObserver(PrometheusObserver):
    """Lets a test wait for the worker loop's heartbeat instead of sleeping for it."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(monotonic=clock.monotonic)
        self.beat = asyncio.Event()

    def heartbeat(self) -> None:
        super().heartbeat()
        self.beat.set()


@dataclass
class Watched:
    engine: Engine
    observer: BeatingObserver
    server: MetricsServer

    async def scrape(self) -> Samples:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"{self.server.url}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    async def health(self) -> tuple[int, dict[str, object]]:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(f"{self.server.url}/healthz")
        return response.status_code, response.json()


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def calls(samples: Samples, operation: str, outcome: str = "ok") -> float:
    return value(
        samples, "videobot_provider_request_seconds_count", operation=operation, outcome=outcome
    )


def failures(samples: Samples, permanent: str) -> float:
    return value(samples, "videobot_delivery_failures_total", platform="test", permanent=permanent)


@pytest.fixture
async def watched(
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    sim: RunningSimulator,
    clock: FakeClock,
    tmp_path: Path,
) -> AsyncIterator[Watched]:
    observer = BeatingObserver(clock)
    provider = HttpProvider(
        http,
        DIALECTS["guide"],
        base_url=sim.url,
        api_key=SIM_KEY,
        model="gemini_omni_flash",
        retry_base=0.01,
        rng=random.Random(1),
        observer=observer,
        fetcher=loopback_fetcher(),
    )
    chat = FakeChat()
    worker = Worker(
        ledger,
        provider,
        {"test": chat},
        TEST_POLICY,
        clock.now,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(3),
        observer=observer,
    )
    service = VideoService(ledger, TEST_POLICY, clock.now, worker.wake)
    server = MetricsServer(observer, ledger, "127.0.0.1", 0)
    await server.start()
    try:
        yield Watched(Engine(ledger, provider, worker, service, chat, clock, sim), observer, server)
    finally:
        await server.close()


async def test_a_task_s_life_moves_every_figure_as_the_simulator_counted_it(
    watched: Watched, tmp_path: Path
) -> None:
    engine = watched.engine
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(png, "PNG")
    media = await MediaIntake(tmp_path / "media", Profile()).from_bytes(png.getvalue(), "c.png")
    await engine.service.accept(t2v("a paper boat"), target("U1"), "e1")
    engine.clock.advance(3)
    await engine.service.accept(
        VideoRequest("the cat waves", Mode.I2V, "16:9", 6, images=(media,)), target("U2"), "e2"
    )

    before = await watched.scrape()
    assert value(before, "videobot_tasks", state="accepted") == 2
    assert value(before, "videobot_queue_depth") == 2
    assert value(before, "videobot_ledger_up") == 1
    assert value(before, "videobot_time_to_video_seconds_count") == 0

    await engine.run_until_idle()
    after = await watched.scrape()
    sim = engine.sim.simulator.snapshot()
    delivered = await engine.ledger.find(TaskQuery(states=frozenset({TaskState.DELIVERED})))
    assert len(delivered) == 2
    assert value(after, "videobot_tasks", state="delivered") == 2
    assert value(after, "videobot_tasks", state="accepted") == 0
    assert value(after, "videobot_queue_depth") == 0
    for state in ("submitting", "submitted", "succeeded", "delivering", "delivered"):
        assert value(after, "videobot_transitions_total", to_state=state) == 2, state
    assert value(after, "videobot_transitions_total", to_state="failed") == 0

    # Time to video: one observation per delivered task, summing the ledger's own durations.
    assert value(after, "videobot_time_to_video_seconds_count") == 2
    expected = sum((t.updated_at - t.created_at).total_seconds() for t in delivered)
    assert value(after, "videobot_time_to_video_seconds_sum") == pytest.approx(expected)
    assert expected > 20  # renders take 20 s of fake time: a zero would pass for nothing

    # Provider latency: one observation per HTTP exchange, as the simulator saw them.
    assert calls(after, "submit") == sim["tasks_created"] == 2
    assert calls(after, "stage") == sim["uploads"] == 1
    assert calls(after, "poll") == sum(sim["polls_by_task"].values()) > 0
    assert calls(after, "download") == sum(sim["downloads_by_task"].values()) == 2
    assert value(after, "videobot_provider_rate_limited_total") == 0
    assert value(after, "videobot_worker_heartbeat_age_seconds") >= 0


async def test_429s_ambiguous_submits_and_delivery_failures_are_counted(watched: Watched) -> None:
    engine = watched.engine
    sim = engine.sim.simulator
    sim.config = replace(sim.config, rate_429=1.0, retry_after=0.0)
    with pytest.raises(RateLimited):
        await engine.provider.submit(t2v(), "task-429")
    sim.config = replace(sim.config, rate_429=0.0, error_after_submit=1.0)
    await engine.service.accept(t2v("billed, maybe"), target(), "e1")
    await engine.worker.step()  # the submit is answered 500 after the task was created
    sim.config = replace(sim.config, error_after_submit=0.0)
    engine.chat.upload_failures.extend(
        [DeliveryTransient("503 from the chat API"), DeliveryError("file refused")]
    )
    await engine.service.accept(t2v("a slow sunrise"), target(), "e2")
    await engine.run_until_idle()

    samples = await watched.scrape()
    limited = sim.snapshot()["responses_429"]
    assert limited == 3  # every attempt of the one submit
    assert value(samples, "videobot_provider_rate_limited_total") == limited
    assert calls(samples, "submit", "rate_limited") == limited
    assert calls(samples, "submit", "ambiguous") == 1
    assert value(samples, "videobot_transitions_total", to_state="unknown") == 1
    assert failures(samples, permanent="false") == failures(samples, permanent="true") == 1
    assert value(samples, "videobot_tasks", state="undeliverable") == 1


async def test_healthz_says_alive_then_stale_when_the_worker_stops_beating(
    watched: Watched,
) -> None:
    engine, observer = watched.engine, watched.observer
    stop = asyncio.Event()
    running = asyncio.create_task(engine.worker.run(stop))
    await asyncio.wait_for(observer.beat.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(running, timeout=5)

    status, body = await watched.health()
    assert status == 200, body
    assert body["ledger"] == "ok" and body["worker"] == "alive" and body["tasks"] == {}

    engine.clock.advance(119)
    assert (await watched.health())[0] == 200
    engine.clock.advance(2)  # 121 s without a turn of the loop
    status, body = await watched.health()
    assert status == 503
    assert body["ledger"] == "ok" and str(body["worker"]).startswith("stale")
    assert value(await watched.scrape(), "videobot_worker_heartbeat_age_seconds") == 121


async def test_healthz_and_metrics_when_the_ledger_is_gone(tmp_path: Path) -> None:
    async with SqliteLedger.open(tmp_path / "gone.db") as ledger:
        pass  # closed on exit: every read now fails
    observer = PrometheusObserver()
    observer.heartbeat()
    server = MetricsServer(observer, ledger, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            health = await client.get(f"{server.url}/healthz")
            metrics = await client.get(f"{server.url}/metrics")
    finally:
        await server.close()
    assert health.status_code == 503
    assert health.json()["ledger"].startswith("error") and health.json()["worker"] == "alive"
    assert metrics.status_code == 200  # a scrape still answers, and says the ledger is down
    assert "videobot_ledger_up 0.0" in metrics.text and "videobot_tasks{" not in metrics.text


async def test_a_taken_port_is_refused_with_the_setting_to_change(
    watched: Watched, ledger: SqliteLedger
) -> None:
    assert watched.server.port is not None
    second = MetricsServer(watched.observer, ledger, "127.0.0.1", watched.server.port)
    with pytest.raises(SystemExit, match="VIDEOBOT_METRICS_PORT"):
        await second.start()


async def test_healthz_names_a_platform_that_is_down_and_stays_live(tmp_path: Path) -> None:
    health = Health()
    health.serving("slack")
    health.serving("discord")
    health.failed("discord", "KeyError: 'id'")
    observer = PrometheusObserver()
    observer.heartbeat()
    async with SqliteLedger.open(tmp_path / "parts.db") as ledger:
        server = MetricsServer(observer, ledger, "127.0.0.1", 0, health=health)
        await server.start()
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                down = await client.get(f"{server.url}/healthz")
                health.serving("discord")
                back = await client.get(f"{server.url}/healthz")
        finally:
            await server.close()
    assert down.status_code == 200  # the worker and Slack still serve: nothing to restart
    assert down.json()["platforms"] == {"slack": "up", "discord": "down: KeyError: 'id'"}
    assert back.json()["platforms"] == {"discord": "up", "slack": "up"}
