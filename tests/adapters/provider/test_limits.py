"""Every exchange with the video API has a total time limit and its answer a byte cap, proven
against hostile upstreams of our own on loopback: one that drips a byte at a time (each read
is quick, so a per-read time-out never fires) and one whose JSON body never ends."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import Simulator
from bot.domain import TaskState
from bot.errors import ProviderTransient, SubmitAmbiguous
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import SIM_KEY, TEST_POLICY, loopback_fetcher, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock

LIMIT = 0.6  # seconds: the provider's total limit per exchange in these tests
CAP = 64 * 1024  # bytes: the largest API answer the provider reads
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hostile:
    url: str = ""
    requests: list[str] = field(default_factory=list)
    written: int = 0


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    """`/drip/...` answers 200 and then one byte every 0.05 s for ever; `/endless/...`
    answers a JSON string that never closes, as fast as the client reads it."""
    upstream = Hostile()

    async def drip(request: web.Request) -> web.StreamResponse:
        upstream.requests.append(f"{request.method} drip")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"task_id": "task_')
        for _ in range(10_000):
            await asyncio.sleep(0.05)
            await response.write(b"x")
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        upstream.requests.append(f"{request.method} endless")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"status": "running", "progress": "')
        chunk = b"9" * 16384
        for _ in range(100_000):  # 1.6 GB if nobody stops reading
            await response.write(chunk)
            upstream.written += len(chunk)
        return response

    app = web.Application()
    app.add_routes(
        [
            web.post("/drip/v1/videos/generations", drip),
            web.get("/drip/v1/videos/generations/{task_id}", drip),
            web.post("/endless/v1/videos/generations", endless),
            web.get("/endless/v1/videos/generations/{task_id}", endless),
            web.get("/drip/result.mp4", drip),
        ]
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    upstream.url = f"http://127.0.0.1:{port}"
    yield upstream
    await runner.cleanup()


class Counting(httpx.AsyncBaseTransport):
    """The real transport, counting the answer bytes handed to the client."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.read = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        counter = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in stream:
                    counter.read += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await stream.aclose()

        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=Counted(),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def counting() -> AsyncIterator[tuple[httpx.AsyncClient, Counting]]:
    transport = Counting()
    # A generous per-read time-out, as in production: a drip never trips it.
    async with httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(5.0), trust_env=False
    ) as client:
        yield client, transport


def limited(http: httpx.AsyncClient, url: str) -> HttpProvider:
    return HttpProvider(
        http,
        DIALECTS["guide"],
        base_url=url,
        api_key=SIM_KEY,
        model="gemini_omni_flash",
        retry_base=0.01,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
        total_timeout=LIMIT,
        download_timeout=LIMIT,
        max_answer_bytes=CAP,
    )


async def test_a_dripping_submit_ends_at_the_total_limit_as_ambiguous_and_is_sent_once(
    hostile: Hostile, counting: tuple[httpx.AsyncClient, Counting]
) -> None:
    http, _ = counting
    started = time.monotonic()
    with pytest.raises(SubmitAmbiguous) as caught:
        await asyncio.wait_for(limited(http, f"{hostile.url}/drip").submit(t2v(), "t-1"), 10)
    assert time.monotonic() - started < LIMIT + 1.0
    assert "time limit" in str(caught.value)
    assert hostile.requests == ["POST drip"]  # the POST went out: never sent again


async def test_a_dripping_poll_is_retried_each_attempt_within_the_limit_then_transient(
    hostile: Hostile, counting: tuple[httpx.AsyncClient, Counting]
) -> None:
    http, _ = counting
    started = time.monotonic()
    with pytest.raises(ProviderTransient) as caught:
        await asyncio.wait_for(limited(http, f"{hostile.url}/drip").fetch("task_1"), 15)
    assert time.monotonic() - started < 3 * LIMIT + 1.5
    assert not isinstance(caught.value, SubmitAmbiguous)
    assert hostile.requests == ["GET drip"] * 3  # attempts=3: a poll is safe to repeat


async def test_an_endless_poll_answer_is_read_only_up_to_the_byte_cap(
    hostile: Hostile, counting: tuple[httpx.AsyncClient, Counting]
) -> None:
    http, transport = counting
    with pytest.raises(ProviderTransient) as caught:
        await asyncio.wait_for(limited(http, f"{hostile.url}/endless").fetch("task_1"), 15)
    assert "too large" in str(caught.value)
    assert hostile.requests == ["GET endless"] * 3
    # Each attempt stopped within one network chunk of the cap, whatever the server wrote.
    assert transport.read <= 3 * (CAP + 65536), transport.read


async def test_an_endless_submit_answer_is_capped_and_ambiguous(
    hostile: Hostile, counting: tuple[httpx.AsyncClient, Counting]
) -> None:
    http, transport = counting
    with pytest.raises(SubmitAmbiguous) as caught:
        await asyncio.wait_for(limited(http, f"{hostile.url}/endless").submit(t2v(), "t"), 10)
    assert "too large" in str(caught.value)
    assert hostile.requests == ["POST endless"]
    assert transport.read <= CAP + 65536, transport.read


async def test_a_dripping_result_download_ends_at_its_time_limit_and_is_retried(
    hostile: Hostile, counting: tuple[httpx.AsyncClient, Counting], tmp_path: Path
) -> None:
    http, _ = counting
    p = limited(http, hostile.url)
    started = time.monotonic()
    with pytest.raises(ProviderTransient) as caught:
        url = f"{hostile.url}/drip/result.mp4"
        await asyncio.wait_for(p.download(url, tmp_path / "v.mp4", 1 << 20), 15)
    assert "did not complete" in str(caught.value)
    assert time.monotonic() - started < 3 * LIMIT + 1.5
    assert hostile.requests == ["GET drip"] * 3


async def test_a_dripping_poll_neither_holds_the_only_worker_slot_nor_outlives_its_deadline(
    clock: FakeClock, ledger: SqliteLedger, tmp_path: Path
) -> None:
    """Through the engine, one worker slot: a gateway drips the poll answers of one task and
    the submit answer of another. Each step still ends within the time limit; the dripped
    submit ends `unknown` (it went out: never sent twice), the third task is submitted and
    delivered, and the dripping poll ends at its task's deadline."""
    simulator = Simulator(
        SimConfig(render_seconds=20, queue_seconds=2, api_key=SIM_KEY, seed=3), clock.monotonic
    )
    trickled: list[str] = []

    @web.middleware
    async def drip(request: web.Request, handler: Handler) -> web.StreamResponse:
        task = simulator.tasks.get(request.match_info.get("task_id", ""))
        dripped_submit = request.method == "POST" and "trickle" in await request.text()
        trickled.extend(["POST"] if dripped_submit else [])
        dripped_poll = request.method == "GET" and task is not None and "drip" in task.prompt
        if not (dripped_submit or dripped_poll):
            return await handler(request)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(10_000):
            await response.write(b" ")
            await asyncio.sleep(0.05)
        return response

    app = simulator.app()
    app.middlewares.insert(0, drip)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    simulator.base_url = f"http://127.0.0.1:{port}"
    policy = replace(TEST_POLICY, concurrency=1, task_deadline=timedelta(minutes=1))
    limit = 0.2
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http:
            provider = HttpProvider(
                http,
                DIALECTS["guide"],
                base_url=simulator.base_url,
                api_key=SIM_KEY,
                model="gemini_omni_flash",
                attempts=1,
                fetcher=loopback_fetcher(),
                total_timeout=limit,
            )
            chat = FakeChat()
            worker = Worker(
                ledger,
                provider,
                {"test": chat},
                policy,
                clock.now,
                scratch_dir=tmp_path / "s",
                monotonic=clock.monotonic,  # deadlines run on monotonic time
            )
            service = VideoService(ledger, policy, clock.now, worker.wake)
            dripping, _ = await service.accept(t2v("a drip of a boat"), target(), "drip")
            await worker.step()
            trickling, _ = await service.accept(t2v("a trickle of a boat"), target("U3"), "t")
            calm, _ = await service.accept(t2v("a calm boat"), target("U2"), "calm")
            for _ in range(40):
                # Each step ends (a drip would hold it for 500 s), whatever the machine's speed.
                await asyncio.wait_for(worker.step(), 5)
                if await ledger.next_due_at() is None:
                    break
                clock.advance(5)
            ended = {t.ref: t.state for t in await ledger.find(TaskQuery())}
    finally:
        await runner.cleanup()
    assert ended == {
        dripping.ref: TaskState.TIMED_OUT,
        trickling.ref: TaskState.UNKNOWN,
        calm.ref: TaskState.DELIVERED,
    }
    assert len(chat.uploads) == 1
    assert trickled == ["POST"]  # the submit that went out was never sent again
