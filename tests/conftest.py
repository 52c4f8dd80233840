"""Shared fixtures: a real simulator on loopback (on a fake clock), a real SQLite ledger file,
and an engine (service + worker + HTTP provider) wired to an in-memory chat port."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from adapters.console.session import PLATFORM, ConsoleChat, ConsoleSession
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.intake import MediaIntake
from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator, start_simulator
from bot.domain import Mode, Profile, ReplyTarget, VideoRequest
from bot.ledger import Ledger
from bot.policy import WorkerPolicy
from bot.ports import Provider
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conformance.discord_contract import assert_conforms
from tests.fakes.chat import FakeChat
from tests.fakes.discord_server import STARTED

if TYPE_CHECKING:  # the harnesses import this module's helpers: import them lazily below
    from tests.fakes.discord_harness import DiscordBot
    from tests.fakes.slack_harness import SlackHarness
from tests.fakes.clock import FakeClock

SIM_KEY = "sk-test-simulator-key-0001"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sim(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(
        SimConfig(render_seconds=20, queue_seconds=2, api_key=SIM_KEY, seed=7),
        clock=clock.monotonic,
    )
    yield running
    await running.close()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    async with SqliteLedger.open(tmp_path / "ledger.db") as opened:
        yield opened


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as client:
        yield client


def make_provider(
    http: httpx.AsyncClient,
    url: str,
    dialect: str = "guide",
    key: str = SIM_KEY,
    idempotent: bool = False,
) -> HttpProvider:
    return HttpProvider(
        http,
        DIALECTS[dialect],
        base_url=url,
        api_key=key,
        model="gemini_omni_flash",
        idempotency_header=IDEMPOTENCY_HEADER if idempotent else None,
        retry_base=0.01,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
    )


def loopback_fetcher() -> SafeFetcher:
    """The production fetcher with the one test exception: the simulator lives on loopback."""
    return SafeFetcher(FetchPolicy(allow_loopback=True, max_bytes=512 * 1024 * 1024))


TEST_POLICY = WorkerPolicy(
    concurrency=8,
    task_deadline=timedelta(minutes=30),
    first_poll=timedelta(seconds=5),
    poll_floor=timedelta(seconds=1),
    poll_ceiling=timedelta(seconds=10),
    predicted_ceiling=timedelta(seconds=10),
    status_interval=timedelta(seconds=0),
)


@dataclass
class Engine:
    ledger: SqliteLedger
    provider: HttpProvider
    worker: Worker
    service: VideoService
    chat: FakeChat
    clock: FakeClock
    sim: RunningSimulator

    async def run_until_idle(self, step_seconds: float = 1.0, max_steps: int = 500) -> None:
        """Advance the fake clock and step the worker until no row is due any more."""
        for _ in range(max_steps):
            await self.worker.step()
            if await self.ledger.next_due_at() is None:
                return
            self.clock.advance(step_seconds)
        raise AssertionError("the worker did not finish within the step budget")


EngineFactory = Callable[..., Engine]


def fake_clock_worker(
    ledger: Ledger,
    provider: Provider,
    chat: FakeChat,
    clock: FakeClock,
    scratch: Path,
    policy: WorkerPolicy = TEST_POLICY,
    seed: int = 3,
    resubmit_safe: bool = False,
) -> Worker:
    """A worker on the fake clock (wall and monotonic time) posting to one FakeChat ("test")."""
    return Worker(
        ledger,
        provider,
        {"test": chat},
        policy,
        clock.now,
        monotonic=clock.monotonic,
        scratch_dir=scratch,
        resubmit_safe=resubmit_safe,
        rng=random.Random(seed),
    )


@pytest.fixture
def make_engine(
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    sim: RunningSimulator,
    clock: FakeClock,
    tmp_path: Path,
) -> EngineFactory:
    def build(
        policy: WorkerPolicy = TEST_POLICY,
        dialect: str = "guide",
        idempotent: bool = False,
        key: str = SIM_KEY,
    ) -> Engine:
        provider = make_provider(http, sim.url, dialect, key=key, idempotent=idempotent)
        chat = FakeChat()
        worker = fake_clock_worker(
            ledger, provider, chat, clock, tmp_path / "scratch", policy, resubmit_safe=idempotent
        )
        service = VideoService(ledger, policy, clock.now, worker.wake)
        return Engine(ledger, provider, worker, service, chat, clock, sim)

    return build


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    return make_engine()


def target(user: str = "U1", channel: str = "C1") -> ReplyTarget:
    return ReplyTarget("test", "T1", channel, user, None, f"user-{user}")


def t2v(
    prompt: str = "a paper boat on a river", ratio: str = "16:9", duration: int = 6
) -> VideoRequest:
    return VideoRequest(prompt=prompt, mode=Mode.T2V, aspect_ratio=ratio, duration=duration)


def console_engine(
    base: Engine, chat: ConsoleChat, out: io.StringIO, tmp_path: Path
) -> tuple[Engine, ConsoleSession]:
    """The engine with the console adapter as its chat, and a session typing into it."""
    worker = Worker(
        base.ledger,
        base.provider,
        {PLATFORM: chat},
        TEST_POLICY,
        base.clock.now,
        monotonic=base.clock.monotonic,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(2),
    )
    service = VideoService(base.ledger, TEST_POLICY, base.clock.now, worker.wake)
    session = ConsoleSession(
        service, MediaIntake(tmp_path / "media", Profile()), chat, Profile(), out
    )
    engine = Engine(base.ledger, base.provider, worker, service, base.chat, base.clock, base.sim)
    return engine, session


# -- chat platforms: the real adapters against local fake Slack / Discord servers ---------------
@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    from tests.fakes.slack_harness import slack_harness

    provider = make_provider(http, sim.url)
    async with slack_harness(
        tmp_path, sim=sim, clock=clock, ledger=ledger, provider=provider, policy=TEST_POLICY
    ) as harness:
        yield harness


@pytest.fixture
async def bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    from tests.fakes.discord_harness import discord_bot

    async with discord_bot(
        tmp_path, clock, sim, ledger=ledger, http=http, policy=TEST_POLICY
    ) as running:
        yield running


# Every test that drives the fake Discord, wherever it lives, also checks each request the bot
# sent against Discord's published API (tests/conformance/): the existing flows are the
# conformance suite's flows. (Slack's check is in tests/adapters/slack/conftest.py: it needs each
# test's requester, whose mention alone may be live.)
@pytest.fixture(autouse=True)
def requests_honour_discords_published_contract() -> Iterator[None]:
    before = len(STARTED)
    yield
    for fake in STARTED[before:]:
        assert_conforms(fake.sent)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly when the PostgreSQL half of the suite did not run (no server answered)."""
    from tests.pg import ADMIN_URL, SKIP_REASON  # noqa: PLC0415

    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if SKIP_REASON in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} PostgreSQL test(s) skipped: no server answers at {ADMIN_URL} "
            "(set VIDEOBOT_TEST_DATABASE_URL, or VIDEOBOT_REQUIRE_POSTGRES=1 to fail instead)",
            yellow=True,
            bold=True,
        )
