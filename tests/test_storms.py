"""Upstream fault storms through the real engine (Worker + HttpProvider + simulator + SQLite
ledger): 429s with Retry-After, 500s, dropped and failed submits, slow answers, content-policy
failures and renders that never end, all at once. Every task must end in the state (and with
the message) its own history calls for, nothing is submitted twice, and a 429 slows the whole
client, not only the request that got it.

The simulator is wrapped in a recording middleware (outermost, so it sees the fault knobs'
answers too): per request its real arrival time, and per submit the prompt and what came back
(a status, or "dropped" when the connection was cut)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import Simulator
from bot import messages
from bot.domain import TaskState
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import SIM_KEY, TEST_POLICY, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock

SUBMIT_PATH = "/v1/videos/generations"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Exchange:
    at: float  # time.monotonic() when the request reached the simulator
    method: str
    path: str
    outcome: int | str  # HTTP status, or "dropped"
    prompt: str | None = None


@dataclass
class Recorded:
    simulator: Simulator
    url: str
    exchanges: list[Exchange] = field(default_factory=list)

    def submits(self, prompt: str) -> list[int | str]:
        return [e.outcome for e in self.exchanges if e.prompt == prompt]

    def api(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.startswith("/v1/")]

    def configure(self, **changes: Any) -> None:
        self.simulator.config = replace(self.simulator.config, **changes)


@pytest.fixture
async def recorded(clock: FakeClock) -> AsyncIterator[Callable[..., Awaitable[Recorded]]]:
    runners: list[web.AppRunner] = []

    async def start(real_clock: bool = False, **config: Any) -> Recorded:
        base = SimConfig(render_seconds=20, queue_seconds=2, api_key=SIM_KEY, seed=11)
        simulator = Simulator(replace(base, **config), None if real_clock else clock.monotonic)
        app = simulator.app()
        record = Recorded(simulator, "")

        @web.middleware
        async def recorder(request: web.Request, handler: Handler) -> web.StreamResponse:
            exchange = Exchange(time.monotonic(), request.method, request.path, "dropped")
            if request.method == "POST" and request.path == SUBMIT_PATH:
                body = await request.json()  # cached: the simulator reads it again
                exchange.prompt = str((body.get("input") or body).get("prompt"))
            record.exchanges.append(exchange)
            response = await handler(request)  # a dropped submit raises and stays "dropped"
            exchange.outcome = response.status
            return response

        app.middlewares.insert(0, recorder)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        simulator.base_url = record.url = f"http://127.0.0.1:{port}"
        runners.append(runner)
        return record

    yield start
    for runner in runners:
        await runner.cleanup()


@dataclass
class StormEngine:
    ledger: SqliteLedger
    worker: Worker
    service: VideoService
    chat: FakeChat
    clock: FakeClock


def storm_engine(
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    url: str,
    clock: FakeClock,
    tmp_path: Path,
    deadline: timedelta,
) -> StormEngine:
    policy = replace(TEST_POLICY, task_deadline=deadline, concurrency=8)
    chat = FakeChat()
    worker = Worker(
        ledger,
        make_provider(http, url),
        {"test": chat},
        policy,
        clock.now,
        monotonic=clock.monotonic,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(3),
    )
    service = VideoService(ledger, policy, clock.now, worker.wake)
    return StormEngine(ledger, worker, service, chat, clock)


def _ambiguous(outcome: int | str) -> bool:
    """What a client cannot read as "nothing was created": a 5xx or a cut connection."""
    return outcome == "dropped" or (isinstance(outcome, int) and outcome >= 500)


async def test_storm_every_task_ends_right_and_nothing_is_paid_twice(
    recorded: Callable[..., Awaitable[Recorded]],
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    sim = await recorded(
        rate_429=0.30,
        retry_after=0.02,  # real seconds the provider holds every request; kept small
        rate_500=0.05,
        drop_after_submit=0.06,
        error_after_submit=0.04,
        latency=0.002,
        fail_rate=0.08,
        never_finish_rate=0.10,
    )
    engine = storm_engine(ledger, http, sim.url, clock, tmp_path, timedelta(minutes=3))
    prompts = [f"storm scene {n}" for n in range(40)]
    prompts += [f"a forbidden storm scene {n}" for n in range(4)]  # content policy
    for n, prompt in enumerate(prompts):
        user = f"U{n % 4}"
        await engine.service.accept(t2v(prompt), target(user), f"storm-{n}")

    for _ in range(400):
        await engine.worker.step()
        if await ledger.next_due_at() is None:
            break
        clock.advance(2)
    else:
        raise AssertionError("the storm never settled: a task is stuck")

    stats = sim.simulator.stats
    tasks = await ledger.find(TaskQuery(limit=1000))
    assert len(tasks) == len(prompts)
    by_prompt = {t.request.prompt: t for t in tasks}
    fates = {t.prompt: t for t in sim.simulator.tasks.values()}
    unknown_billed = unknown_unbilled = 0
    for prompt, task in by_prompt.items():
        outcomes = sim.submits(prompt)
        assert outcomes, f"{prompt}: never submitted"
        # Only a 429 (nothing created, Retry-After honoured) is ever followed by another POST.
        assert all(o == 429 for o in outcomes[:-1]), (prompt, outcomes)
        last = outcomes[-1]
        assert task.state.is_terminal and task.next_check_at is None, (prompt, task.state)
        view = engine.chat.last_view(task.status_message_id or "")
        assert view.final and view.state == task.state.value
        if _ambiguous(last):
            assert task.state is TaskState.UNKNOWN, (prompt, outcomes, task.state)
            assert "cannot tell whether the video service started (and billed) it" in view.detail
            if prompt in fates:
                unknown_billed += 1  # created, then the answer was lost or a 500
            else:
                unknown_unbilled += 1  # a 500 before anything was created
            continue
        assert last == 200, (prompt, outcomes)
        fate = fates[prompt]
        assert task.provider_task_id == fate.task_id
        if fate.fate == "succeed":
            assert task.state is TaskState.DELIVERED, (prompt, task.state, task.note)
            assert "The video is in this thread" in view.detail
        elif fate.fate == "policy":
            assert task.state is TaskState.FAILED
            assert "declined this prompt under its content policy" in view.detail
            assert "flagged by the content safety system" in view.detail
        elif fate.fate == "fail":
            assert task.state is TaskState.FAILED
            assert "The render failed on the GPU worker" in view.detail
        else:
            assert fate.fate == "never"
            assert task.state is TaskState.TIMED_OUT
            assert view.detail == messages.status_view(task, clock.now()).detail
            assert "No result after 3m 00s" in view.detail

    # Nothing paid twice, and nothing created that the ledger does not account for.
    assert max(stats.submits_by_prompt.values()) == 1
    assert stats.tasks_created == len(fates) == len(prompts) - unknown_unbilled
    delivered = [t for t in tasks if t.state is TaskState.DELIVERED]
    assert {u.key for u in engine.chat.uploads} == {t.nonce("v") for t in delivered}
    assert len(engine.chat.uploads) == len(delivered)

    # The storm really happened, and every kind of ending was reached.
    states = {t.state for t in tasks}
    assert states == {
        TaskState.DELIVERED,
        TaskState.FAILED,
        TaskState.TIMED_OUT,
        TaskState.UNKNOWN,
    }
    assert stats.responses_429 >= 50 and stats.responses_500 >= 5 and stats.dropped >= 1
    assert unknown_billed >= 1 and len(delivered) >= 20
    print(
        f"\nstorm: {len(prompts)} tasks, {stats.requests} requests, "
        f"{stats.responses_429} x 429, {stats.responses_500} x 500, {stats.dropped} dropped; "
        f"ended {sorted((s.value, sum(t.state is s for t in tasks)) for s in states)}; "
        f"unknown {unknown_billed} billed + {unknown_unbilled} never created; "
        f"simulator fates {sorted(Counter(t.fate for t in fates.values()).items())}; "
        f"max submits per prompt {max(stats.submits_by_prompt.values())}"
    )


async def test_a_429_holds_every_request_of_the_client_for_retry_after(
    recorded: Callable[..., Awaitable[Recorded]],
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """Real time, because the hold is real: 8 tasks polled concurrently by one worker through
    one provider. After the simulator answers a 429 (Retry-After 0.2 s), the only requests it
    may see within the next 0.2 s are those already on the wire: at most the other 7 polls.
    Without the client-wide hold each poller would retry at once (~100 requests a window)."""
    retry_after = 0.2
    concurrency = 8
    sim = await recorded(real_clock=True, queue_seconds=0, never_finish_rate=1.0, latency=0.01)
    engine = storm_engine(ledger, http, sim.url, clock, tmp_path, timedelta(hours=1))
    for n in range(concurrency):
        await engine.service.accept(t2v(f"endless {n}"), target(f"U{n}"), f"hold-{n}")
    await engine.worker.step()  # all submitted, before the storm starts
    assert len(sim.simulator.tasks) == concurrency

    sim.configure(rate_429=0.3, retry_after=retry_after)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        clock.advance(10)  # every task is due again at each step
        await engine.worker.step()

    window = [e for e in sim.api() if e.at >= started]
    limited = [e for e in window if e.outcome == 429]
    assert len(limited) >= 3, "the storm must actually have happened"
    # Requests reaching the simulator within Retry-After of each 429 (the 429 itself excluded).
    after = [sum(1 for e in window if hit.at < e.at < hit.at + retry_after) for hit in limited]
    limit = concurrency - 1
    assert max(after) <= limit, after
    # And none of them was sent after the client had read the 429: those on the wire arrive
    # within milliseconds of it; anything from Retry-After/2 on would be a fresh request.
    fresh = [
        e.at - hit.at
        for hit in limited
        for e in window
        if hit.at + retry_after / 2 <= e.at < hit.at + retry_after
    ]
    assert fresh == [], fresh
    rate = len(window) / (window[-1].at - window[0].at)
    print(
        f"\n429 hold: {len(window)} requests in {window[-1].at - window[0].at:.2f}s "
        f"({rate:.0f}/s), {len(limited)} x 429 (Retry-After {retry_after}s); at most "
        f"{max(after)} requests within Retry-After of a 429 (limit {limit}, i.e. "
        f"{limit / retry_after:.0f}/s)"
    )
