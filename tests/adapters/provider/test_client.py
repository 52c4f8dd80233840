"""The HTTP provider client against the real simulator over loopback: both dialects end to end,
every row of the error table, rate-limit storms, 5xx, time-outs, accept-then-drop, idempotency
keys, downloads (real MP4, byte cap, expiry, where the key may go)."""

from __future__ import annotations

import asyncio
import io
import random
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from aiohttp import web

from adapters.fetch.fetcher import SafeFetcher
from adapters.provider.answer import retry_after
from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.provider.dialects.guide import GuideDialect
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    ResultExpired,
    SubmitAmbiguous,
    TaskNotFound,
    Unreachable,
)
from bot.ports import ProviderState
from tests.conftest import SIM_KEY, loopback_fetcher, make_provider, t2v
from tests.fakes.clock import FakeClock

# -- helpers --------------------------------------------------------------------------------


async def knobs(http: httpx.AsyncClient, sim: RunningSimulator, **changes: Any) -> None:
    """Turn the simulator's fault knobs live, through its own config endpoint."""
    response = await http.post(f"{sim.url}/_sim/config", json=changes)
    assert response.status_code == 200, response.text


async def state(http: httpx.AsyncClient, sim: RunningSimulator) -> dict[str, Any]:
    response = await http.get(f"{sim.url}/_sim/state")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def provider(
    http: httpx.AsyncClient,
    url: str,
    *,
    attempts: int = 3,
    idempotent: bool = False,
    key: str = SIM_KEY,
    dialect: str = "guide",
) -> HttpProvider:
    return HttpProvider(
        http,
        DIALECTS[dialect],
        base_url=url,
        api_key=key,
        model="gemini_omni_flash",
        idempotency_header=IDEMPOTENCY_HEADER if idempotent else None,
        retry_base=0.01,
        attempts=attempts,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
    )


def clean(err: BaseException) -> str:
    """The error's text, after checking that the API key is nowhere in it."""
    text = f"{err} {err!r} {getattr(err, 'code', '')}"
    assert SIM_KEY not in text
    return str(err)


@pytest.fixture
async def small_sim(sim: RunningSimulator, http: httpx.AsyncClient) -> RunningSimulator:
    """The shared simulator with small videos, so decoding in tests stays fast."""
    await knobs(http, sim, video_height=144)
    return sim


@pytest.fixture
async def short_http() -> AsyncIterator[httpx.AsyncClient]:
    """A client whose read time-out (0.1 s) is shorter than a slow gateway's answer."""
    timeout = httpx.Timeout(2.0, read=0.1)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        yield client


def free_closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Recorder:
    """A second origin (a 'CDN') that records the headers it receives."""

    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0


@pytest.fixture
async def cdn() -> AsyncIterator[Recorder]:
    recorder = Recorder()

    async def serve(request: web.Request) -> web.Response:
        recorder.seen.append(dict(request.headers))
        name = request.match_info["name"]
        if name == "signed":
            # A redirect to another origin (same server, but `localhost` is not `127.0.0.1`).
            raise web.HTTPFound(f"http://localhost:{request.url.port}/video.mp4")
        if name == "bad":
            return web.json_response({"error": {"message": "bad gateway"}}, status=502)
        if name == "stream":  # chunked, no Content-Length: only counting can cap it
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(100):
                recorder.chunks += 1
                await response.write(b"x" * 4096)
            await response.write_eof()
            return response
        return web.Response(body=b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100)

    app = web.Application()
    app.add_routes([web.get("/{name}", serve)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recorder.url = f"http://127.0.0.1:{port}"
    yield recorder
    await runner.cleanup()


async def finish(p: HttpProvider, clock: FakeClock, task_id: str) -> str:
    """Advance the render to its end and return the result URL."""
    clock.advance(60)
    status = await p.fetch(task_id)
    assert status.state is ProviderState.SUCCEEDED and status.video_url
    return status.video_url


# -- both dialects, end to end --------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
@pytest.mark.parametrize(("ratio", "size"), [("9:16", (144, 256)), ("16:9", (256, 144))])
async def test_submit_poll_complete_download_round_trip(  # noqa: PLR0917
    small_sim: RunningSimulator,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
    dialect: str,
    ratio: str,
    size: tuple[int, int],
) -> None:
    p = make_provider(http, small_sim.url, dialect)
    task_id = await p.submit(t2v(f"a paper boat in {dialect}", ratio, duration=6), "t-1")
    assert task_id.startswith("task_")

    first = await p.fetch(task_id)
    assert first.state is ProviderState.QUEUED and first.progress == 0
    clock.advance(2 + 10)  # queue 2 s, then half of a 20 s render
    middle = await p.fetch(task_id)
    assert middle.state is ProviderState.RUNNING and middle.progress == 50
    assert middle.video_url is None
    clock.advance(10)
    done = await p.fetch(task_id)
    assert done.state is ProviderState.SUCCEEDED and done.progress == 100
    assert done.video_url == f"{small_sim.url}/files/{task_id}.mp4"
    assert done.expires_at is not None and done.error_code is None

    dest = tmp_path / "out.mp4"
    size_written = await p.download(done.video_url, dest, max_bytes=50 << 20)
    data = dest.read_bytes()
    assert size_written == len(data) > 1000 and data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == size
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - 6) < 0.2
        assert container.streams.audio, "the model returns audio, so must the simulator"
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == size

    snap = await state(http, small_sim)
    assert snap["tasks_created"] == 1
    assert snap["submits_by_prompt"] == {f"a paper boat in {dialect}": 1}
    assert snap["polls_by_task"] == {task_id: 3}
    assert snap["downloads_by_task"] == {task_id: 1}


async def test_stage_uploads_a_local_image_and_returns_a_fetchable_url(
    sim: RunningSimulator, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 10)
    media = MediaRef("image", str(image), "sha", "image/png", image.stat().st_size, "cat.png")
    url = await make_provider(http, sim.url).stage(media)
    assert url.startswith(f"{sim.url}/uploads/")
    fetched = await http.get(url)
    assert fetched.content == image.read_bytes()
    assert fetched.headers["content-type"] == "image/png"
    # A media already hosted somewhere is passed through, not uploaded again.
    hosted = MediaRef("image", "", "sha", "image/png", 1, url="https://cdn.example/cat.png")
    assert await make_provider(http, sim.url).stage(hosted) == "https://cdn.example/cat.png"
    assert (await state(http, sim))["uploads"] == 1


async def test_image_to_video_with_a_staged_image_in_both_dialects(
    sim: RunningSimulator, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    for dialect in ("guide", "toapis"):
        p = make_provider(http, sim.url, dialect)
        media = MediaRef("image", str(image), "sha", "image/png", 8, "cat.png")
        staged = replace(media, url=await p.stage(media))
        request = VideoRequest(f"the cat {dialect}", Mode.I2V, "16:9", 6, images=(staged,))
        assert (await p.fetch(await p.submit(request, "t"))).state is ProviderState.QUEUED
    assert sim.simulator.stats.tasks_created == 2
    assert {t.mode for t in sim.simulator.tasks.values()} == {"image-to-video"}


# -- the error table ------------------------------------------------------------------------


async def test_400_is_rejected_once_naming_the_field_and_allowed_values(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, durations=[4, 10])
    with pytest.raises(ProviderRejected) as caught:
        await make_provider(http, sim.url).submit(t2v(duration=6), "t-1")
    message = clean(caught.value)
    assert "duration" in message and "[4, 10]" in message
    assert caught.value.code == "invalid_request"
    snap = await state(http, sim)
    assert snap["requests"] == 1  # never retried
    assert snap["tasks_created"] == 0


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
async def test_401_is_an_auth_error_never_retried_and_never_echoing_the_key(
    sim: RunningSimulator, http: httpx.AsyncClient, dialect: str
) -> None:
    p = make_provider(http, sim.url, dialect, key="sk-wrong-key-123456")
    with pytest.raises(ProviderAuthError) as on_submit:
        await p.submit(t2v(), "t-1")
    with pytest.raises(ProviderAuthError) as on_poll:
        await p.fetch("task_whatever")
    for err in (on_submit.value, on_poll.value):
        assert "sk-wrong-key-123456" not in f"{err} {err!r}"
        assert "API key" in str(err) and err.code == "authentication_error"
    snap = await state(http, sim)
    assert snap["responses_401"] == 2 and snap["requests"] == 2
    assert snap["tasks_created"] == 0


async def test_a_key_echoed_by_the_gateway_is_redacted_from_errors() -> None:
    key = "sk-live-echoed-0123456789"

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        if request.method == "POST":
            body = {"error": {"type": "authentication_error", "message": f"bad key {sent}"}}
            return httpx.Response(401, json=body)
        return httpx.Response(200, text=f"<html>proxy error for {sent}</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        p = provider(client, "https://gw.example", key=key, attempts=1)
        with pytest.raises(ProviderAuthError) as auth:
            await p.submit(t2v(), "t-1")
        with pytest.raises(ProviderTransient) as garbled:
            await p.fetch("task_1")
    for err in (auth.value, garbled.value):
        assert key not in str(err) and "[redacted]" in str(err)


async def test_429_raises_rate_limited_with_retry_after_and_holds_back_the_whole_client(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, rate_429=1.0, retry_after=0.4)
    p = provider(http, sim.url, attempts=1)
    with pytest.raises(RateLimited) as caught:
        await p.fetch("task_x")
    assert caught.value.retry_after == timedelta(seconds=0.4)
    assert caught.value.code == "rate_limit_exceeded"
    assert p.rate_limited == 1

    # The limit is over, but this client promised to wait: two other calls, started together,
    # both leave only after the Retry-After (and a fresh client is not held back at all).
    await knobs(http, sim, rate_429=0.0)
    started = time.monotonic()
    fresh = provider(http, sim.url, attempts=1)
    with pytest.raises(TaskNotFound):
        await fresh.fetch("task_y")
    assert time.monotonic() - started < 0.3

    async def timed(call: Any) -> float:
        try:
            await call
        except TaskNotFound:
            pass
        return time.monotonic() - started

    waits = await asyncio.gather(timed(p.fetch("task_a")), timed(p.submit(t2v(), "t-2")))
    assert all(wait >= 0.35 for wait in waits), waits
    assert sim.simulator.stats.tasks_created == 1


async def test_429_on_submit_is_retried_after_retry_after_since_nothing_was_created(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, rate_429=1.0, retry_after=0.05)
    p = provider(http, sim.url, attempts=3)
    with pytest.raises(RateLimited):
        await p.submit(t2v(), "t-1")
    snap = await state(http, sim)
    assert snap["requests"] == snap["responses_429"] == 3
    assert snap["tasks_created"] == 0


async def test_429_storm_every_poll_succeeds_and_nothing_is_submitted_twice(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await knobs(http, sim, rate_429=0.3, retry_after=0.01)
    p = provider(http, sim.url, attempts=3)
    prompts = [f"storm prompt {n}" for n in range(20)]

    async def patiently(call: Any) -> Any:
        # What the worker does with a RateLimited: keep the task and come back later.
        for _ in range(20):
            try:
                return await call()
            except RateLimited:
                continue
        raise AssertionError("the storm never let the call through")

    ids = [await patiently(lambda pr=pr: p.submit(t2v(pr), pr)) for pr in prompts]
    clock.advance(60)
    statuses = await asyncio.gather(*(patiently(lambda i=i: p.fetch(i)) for i in ids))
    assert all(s.state is ProviderState.SUCCEEDED for s in statuses)

    snap = await state(http, sim)
    assert snap["responses_429"] >= 8, "the storm must actually have happened"
    assert p.rate_limited == snap["responses_429"]
    assert snap["tasks_created"] == len(prompts)
    assert snap["submits_by_prompt"] == dict.fromkeys(prompts, 1)


async def test_500_on_poll_is_retried_until_it_succeeds(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    task_id = await make_provider(http, sim.url).submit(t2v(), "t-1")
    await knobs(http, sim, rate_500=0.5)
    p = provider(http, sim.url, attempts=12)
    for _ in range(10):
        assert (await p.fetch(task_id)).state is ProviderState.QUEUED
    snap = await state(http, sim)
    assert snap["responses_500"] > 0, "some polls must have met a 500"
    assert snap["polls_by_task"] == {task_id: 10}
    assert snap["requests"] == 1 + 10 + snap["responses_500"]


async def test_500_on_poll_gives_up_as_transient_after_the_attempts_with_the_request_id(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, rate_500=1.0)
    with pytest.raises(ProviderTransient) as caught:
        await make_provider(http, sim.url).fetch("task_x")
    assert not isinstance(caught.value, SubmitAmbiguous)
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert caught.value.request_id in clean(caught.value)
    assert (await state(http, sim))["responses_500"] == 3  # attempts=3


async def test_500_after_the_task_was_created_is_ambiguous_and_not_resent(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, error_after_submit=1.0)
    with pytest.raises(SubmitAmbiguous) as caught:
        await make_provider(http, sim.url).submit(t2v(), "t-1")
    assert caught.value.request_id and caught.value.request_id in clean(caught.value)
    snap = await state(http, sim)
    assert snap["requests"] == 1
    assert snap["tasks_created"] == 1  # billed once; a blind resend would bill twice


async def test_500_on_submit_is_ambiguous_and_sent_only_once(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, rate_500=1.0)
    with pytest.raises(SubmitAmbiguous):
        await make_provider(http, sim.url).submit(t2v(), "t-1")
    snap = await state(http, sim)
    assert snap["requests"] == 1 and snap["responses_500"] == 1


async def test_read_timeout_on_submit_is_ambiguous_and_the_task_exists(
    sim: RunningSimulator, short_http: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, submit_latency=0.3)
    with pytest.raises(SubmitAmbiguous) as caught:
        await make_provider(short_http, sim.url).submit(t2v(), "t-1")
    assert "ReadTimeout" in clean(caught.value)
    snap = await state(http, sim)
    assert snap["requests"] == 1
    assert snap["tasks_created"] == 1


async def test_accept_then_drop_is_ambiguous_with_exactly_one_task_created(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, drop_after_submit=1.0)
    with pytest.raises(SubmitAmbiguous):
        await make_provider(http, sim.url).submit(t2v("dropped boat"), "t-1")
    snap = await state(http, sim)
    assert snap["requests"] == 1 and snap["dropped"] == 1
    assert snap["tasks_created"] == 1
    assert snap["submits_by_prompt"] == {"dropped boat": 1}


async def test_connection_refused_is_unreachable_and_retried_because_nothing_was_sent(
    http: httpx.AsyncClient,
) -> None:
    url = f"http://127.0.0.1:{free_closed_port()}"
    p = make_provider(http, url)
    with pytest.raises(Unreachable) as on_submit:
        await p.submit(t2v(), "t-1")
    with pytest.raises(Unreachable):
        await p.fetch("task_1")
    assert "ConnectError" in clean(on_submit.value)
    assert not isinstance(on_submit.value, SubmitAmbiguous)


async def test_404_on_poll_is_task_not_found_and_not_retried_inside_the_client(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    with pytest.raises(TaskNotFound):
        await make_provider(http, sim.url).fetch("task_never_existed")
    assert (await state(http, sim))["requests"] == 1


async def test_a_wrong_base_url_is_rejected_with_advice_not_reported_as_a_lost_task(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    p = make_provider(http, f"{sim.url}/v1")  # the root already ends in /v1: /v1/v1/videos...
    with pytest.raises(ProviderRejected) as caught:
        await p.submit(t2v(), "t-1")
    assert "VIDEO_API_URL" in clean(caught.value)
    assert sim.url not in str(caught.value)  # users read this; the URL is the operator's
    assert (await state(http, sim))["tasks_created"] == 0


async def test_the_chat_completions_trap_explains_the_wrong_base_url(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    class ChatPath(GuideDialect):
        submit_route = "/v1/chat/completions"

    p = HttpProvider(http, ChatPath(), base_url=sim.url, api_key=SIM_KEY, model="gemini_omni")
    with pytest.raises(ProviderRejected) as caught:
        await p.submit(t2v(), "t-1")
    message = clean(caught.value)
    assert "invalid apitype: -1" in message
    assert "chat endpoint" in message and "VIDEO_API_URL" in message
    assert (await state(http, sim))["requests"] == 1


# -- idempotency keys -----------------------------------------------------------------------


async def test_with_a_key_a_dropped_submit_is_resent_with_the_same_key_creating_one_task(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await knobs(http, sim, drop_after_submit=1.0)
    p = make_provider(http, sim.url, idempotent=True)
    assert p.resubmit_safe
    with pytest.raises(ProviderTransient) as caught:
        await p.submit(t2v("keyed boat"), "our-task-1")
    assert not isinstance(caught.value, SubmitAmbiguous)
    snap = await state(http, sim)
    assert snap["submits_by_key"] == {"our-task-1": 3}  # resent inside the client
    assert snap["tasks_created"] == 1

    # Later (the worker's retry), the same key names the same task: still one.
    await knobs(http, sim, drop_after_submit=0.0)
    again = await p.submit(t2v("keyed boat"), "our-task-1")
    assert again == next(iter(sim.simulator.tasks))
    snap = await state(http, sim)
    assert snap["tasks_created"] == 1 and snap["submits_by_key"] == {"our-task-1": 4}
    assert snap["submits_by_prompt"] == {"keyed boat": 1}


async def test_with_a_key_a_500_and_a_timeout_are_retried_with_the_key_creating_one_task(
    sim: RunningSimulator, http: httpx.AsyncClient, short_http: httpx.AsyncClient
) -> None:
    keyed = make_provider(http, sim.url, idempotent=True)
    await knobs(http, sim, error_after_submit=1.0)
    with pytest.raises(ProviderTransient):
        await keyed.submit(t2v("a"), "k-a")
    await knobs(http, sim, error_after_submit=0.0, submit_latency=0.3)
    with pytest.raises(ProviderTransient):
        await make_provider(short_http, sim.url, idempotent=True).submit(t2v("b"), "k-b")
    await knobs(http, sim, submit_latency=0.0)
    first, second = list(sim.simulator.tasks)
    assert await keyed.submit(t2v("a"), "k-a") == first
    assert await keyed.submit(t2v("b"), "k-b") == second
    snap = await state(http, sim)
    assert snap["responses_500"] == 3
    assert snap["submits_by_key"] == {"k-a": 4, "k-b": 4}  # 3 inside the client + 1 later
    assert snap["tasks_created"] == 2
    assert snap["submits_by_prompt"] == {"a": 1, "b": 1}


async def test_a_409_on_a_keyed_resend_is_retried_with_the_same_key() -> None:
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get(IDEMPOTENCY_HEADER))
        if len(keys) == 1:
            body = {"error": {"type": "conflict", "message": "key in use, still processing"}}
            return httpx.Response(409, json=body)
        return httpx.Response(200, json={"task_id": "task_1", "status": "queued"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        keyed = provider(client, "https://gw.example", idempotent=True)
        assert await keyed.submit(t2v(), "our-1") == "task_1"
        assert keys == ["our-1", "our-1"]
        keys.clear()
        with pytest.raises(SubmitAmbiguous):  # without a key, nobody can tell: never resent
            await provider(client, "https://gw.example").submit(t2v(), "our-2")
        assert keys == [None]


# -- downloads ------------------------------------------------------------------------------


async def test_download_over_the_byte_cap_is_too_large(
    small_sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    p = make_provider(http, small_sim.url)
    url = await finish(p, clock, await p.submit(t2v(), "t-1"))
    with pytest.raises(ProviderError) as caught:
        await p.download(url, tmp_path / "big.mp4", max_bytes=10_000)
    assert caught.value.code == "too_large"
    assert type(caught.value) is ProviderError  # not transient: retrying cannot shrink it


async def test_download_without_content_length_is_capped_while_streaming(
    http: httpx.AsyncClient, cdn: Recorder, tmp_path: Path
) -> None:
    p = make_provider(http, cdn.url)
    with pytest.raises(ProviderError) as caught:
        await p.download(f"{cdn.url}/stream", tmp_path / "v.mp4", max_bytes=20_000)
    assert caught.value.code == "too_large"
    assert not (tmp_path / "v.mp4").exists()


async def test_an_expired_link_raises_result_expired(
    small_sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    await knobs(http, small_sim, result_ttl=3600)
    p = make_provider(http, small_sim.url)
    url = await finish(p, clock, await p.submit(t2v(), "t-1"))
    await p.download(url, tmp_path / "ok.mp4", max_bytes=50 << 20)
    clock.advance(3601)
    with pytest.raises(ResultExpired):
        await p.download(url, tmp_path / "late.mp4", max_bytes=50 << 20)


async def test_a_link_expires_from_when_the_render_finished_even_if_nobody_polled(
    small_sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    await knobs(http, small_sim, result_ttl=3600)
    p = make_provider(http, small_sim.url)
    task_id = await p.submit(t2v(), "t-1")
    clock.advance(22 + 3601)  # done at 22 s; the link died at 3622 s
    with pytest.raises(ResultExpired):
        await p.download(f"{small_sim.url}/files/{task_id}.mp4", tmp_path / "v.mp4", 50 << 20)
    status = await p.fetch(task_id)
    assert status.state is ProviderState.SUCCEEDED  # the task itself is still known


async def test_the_key_goes_to_the_api_origin_only_never_to_a_result_host(
    sim: RunningSimulator, http: httpx.AsyncClient, cdn: Recorder, tmp_path: Path
) -> None:
    foreign = make_provider(http, sim.url)
    await foreign.download(f"{cdn.url}/video.mp4", tmp_path / "a.mp4", max_bytes=1 << 20)
    same = make_provider(http, cdn.url)  # the API itself serves the file: the key is due
    await same.download(f"{cdn.url}/video.mp4", tmp_path / "b.mp4", max_bytes=1 << 20)
    first, second = ({k.lower(): v for k, v in seen.items()} for seen in cdn.seen)
    assert "authorization" not in first
    assert SIM_KEY not in str(first)
    assert second["authorization"] == f"Bearer {SIM_KEY}"


async def test_a_redirected_result_is_followed_without_carrying_the_key(
    http: httpx.AsyncClient, cdn: Recorder, tmp_path: Path
) -> None:
    p = make_provider(http, cdn.url)  # the API's own origin redirects to storage elsewhere
    size = await p.download(f"{cdn.url}/signed", tmp_path / "v.mp4", max_bytes=1 << 20)
    assert size == 112 and (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    home, storage = ({k.lower(): v for k, v in seen.items()} for seen in cdn.seen)
    assert home["authorization"] == f"Bearer {SIM_KEY}"
    assert storage["host"].startswith("localhost") and "authorization" not in storage


async def test_download_5xx_is_retried_then_transient(
    http: httpx.AsyncClient, cdn: Recorder, tmp_path: Path
) -> None:
    with pytest.raises(ProviderTransient):
        await make_provider(http, cdn.url).download(
            f"{cdn.url}/bad", tmp_path / "v.mp4", max_bytes=1 << 20
        )
    assert len(cdn.seen) == 3


async def test_a_result_link_to_a_private_address_is_refused_not_fetched(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    p = provider(http, "https://gw.example")  # production policy for result links
    p._fetcher = SafeFetcher()  # noqa: SLF001  (no loopback exception here)
    for url in ("http://169.254.169.254/latest/meta-data", "https://10.0.0.8/v.mp4"):
        with pytest.raises(ProviderRejected) as caught:
            await p.download(url, tmp_path / "v.mp4", max_bytes=1 << 20)
        assert caught.value.code == "refused"


# -- Retry-After parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "100000"}, 120.0),  # capped, as openai-python does
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "inf", "retry-after": "3"}, 3.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], expected: float | None) -> None:
    parsed = retry_after(httpx.Headers(headers))
    assert (parsed.total_seconds() if parsed is not None else None) == expected


def test_retry_after_as_an_http_date() -> None:
    from email.utils import formatdate

    parsed = retry_after(httpx.Headers({"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert parsed is not None and 25 <= parsed.total_seconds() <= 31
