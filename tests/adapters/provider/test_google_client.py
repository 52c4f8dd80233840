"""The HTTP provider with the Google dialect against the simulator's `google` speaker over
loopback: every mode to a decodable MP4, inline and uri results, the Files API's states, "Edit
this video" by previous_interaction_id, refusals, the other ends, unknown ids, a rate cap."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from adapters.provider.client import HttpProvider
from adapters.provider.dialects.google import INLINE_IMAGE_MAX, GoogleDialect
from adapters.provider.files import FileWait
from adapters.provider.spill import MARKER
from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.server import RunningSimulator, start_simulator
from bot.domain import MediaRef, Mode, TaskState, VideoRequest
from bot.errors import (
    DeliveryTransient,
    ProviderAuthError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    ResultExpired,
    TaskNotFound,
)
from bot.ports import ProviderState, ProviderStatus
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, fake_clock_worker, loopback_fetcher, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock

KEY = "AIza-test-gemini-key-0001"
RENDER = 20.0


async def _no_pause(seconds: float) -> None:
    """Files change state by being looked at in the simulator, not by time passing."""


PATIENT = FileWait(delays=(1.0,) * 5, sleep=_no_pause)


@pytest.fixture
async def gsim(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(
        dialect="google", render_seconds=RENDER, queue_seconds=2, api_key=KEY, video_height=144
    )
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


def google(
    http: httpx.AsyncClient, sim: RunningSimulator, spill: Path, wait: FileWait = PATIENT
) -> HttpProvider:
    return HttpProvider(
        http,
        GoogleDialect(wait),
        base_url=sim.url,
        api_key=KEY,
        model="gemini-omni-1.1-flash",
        auth="x-goog-api-key",
        media="inline",
        retry_base=0.01,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
        spill_dir=spill,
    )


@pytest.fixture
async def provider(
    http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> AsyncIterator[HttpProvider]:
    made = google(http, gsim, tmp_path / "spill")
    yield made
    await made.aclose()


async def knobs(http: httpx.AsyncClient, sim: RunningSimulator, **changes: Any) -> dict[str, Any]:
    answer = await http.post(f"{sim.url}/_sim/google", json=changes)
    assert answer.status_code == 200, answer.text
    state = await http.get(f"{sim.url}/_sim/google")
    data: dict[str, Any] = state.json()
    return data


async def render(
    provider: HttpProvider, clock: FakeClock, request: VideoRequest
) -> tuple[str, ProviderStatus]:
    """Stage, submit, watch it run, let it finish: (interaction id, the final status)."""
    staged = [
        MediaRef(m.kind, m.path, m.sha256, m.mime, m.size, m.name, await provider.stage(m))
        for m in request.media
    ]
    request = request.with_media(tuple(staged))
    interaction = await provider.submit(request, "task-1")
    assert interaction.startswith("v1_")
    assert (await provider.fetch(interaction)).state is ProviderState.QUEUED
    clock.advance(5)
    running = await provider.fetch(interaction)
    assert running.state is ProviderState.RUNNING and running.progress is None
    clock.advance(RENDER)
    return interaction, await provider.fetch(interaction)


def picture(path: Path, noise: bool = False) -> MediaRef:
    """A PNG on disk; with `noise`, one too big to travel inline."""
    size = (900, 700) if noise else (80, 60)
    image = Image.frombytes("RGB", size, random.Random(4).randbytes(size[0] * size[1] * 3))
    image.save(path)
    data = path.read_bytes()
    assert (len(data) > INLINE_IMAGE_MAX) is noise
    return MediaRef("image", str(path), f"{len(data):064x}", "image/png", len(data), path.name)


def movie(path: Path, ratio: str = "16:9", seconds: int = 4) -> MediaRef:
    path.write_bytes(render_mp4("source clip", ratio, seconds, 120))
    size = path.stat().st_size
    return MediaRef("video", str(path), "c" * 64, "video/mp4", size, path.name)


async def downloaded(
    provider: HttpProvider, status: ProviderStatus, dest: Path
) -> tuple[int, int, float]:
    """(width, height, seconds) of the result, downloaded and decoded."""
    assert status.state is ProviderState.SUCCEEDED and status.video_url
    size = await provider.download(status.video_url, dest, 50 << 20)
    return decoded(dest, size)


def decoded(path: Path, size: int) -> tuple[int, int, float]:
    assert size == path.stat().st_size > 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.width, stream.height, container.duration / 1_000_000


# -- every mode, both deliveries ------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["uri", "inline"])
@pytest.mark.parametrize("mode", [Mode.T2V, Mode.I2V, Mode.R2V, Mode.EDIT])
async def test_every_mode_ends_in_a_decodable_mp4(
    provider: HttpProvider,
    http: httpx.AsyncClient,
    gsim: RunningSimulator,
    clock: FakeClock,
    tmp_path: Path,
    mode: Mode,
    delivery: str,
) -> None:
    await knobs(http, gsim, delivery=delivery)
    media: dict[Mode, dict[str, Any]] = {
        Mode.T2V: {},
        Mode.I2V: {"images": (picture(tmp_path / "a.png"),)},
        Mode.R2V: {"images": (picture(tmp_path / "a.png"), picture(tmp_path / "b.png", True))},
        Mode.EDIT: {"video": movie(tmp_path / "clip.mp4", "9:16", 4)},
    }
    request = VideoRequest("a fox in snow", mode, "9:16", 6, **media[mode])
    _, status = await render(provider, clock, request)
    assert (status.video_url or "").startswith(MARKER if delivery == "inline" else gsim.url)
    width, height, seconds = await downloaded(provider, status, tmp_path / "out.mp4")
    assert height > width  # 9:16 (an edit's comes from its clip)
    assert abs(seconds - (4 if mode is Mode.EDIT else 6)) < 0.2
    state = await knobs(http, gsim)
    uploads = {Mode.T2V: 0, Mode.I2V: 0, Mode.R2V: 1, Mode.EDIT: 1}[mode]
    assert len(state["files"]) == uploads + (delivery == "uri")  # the result is a file too
    # The result link took the key to the API and none of it to the storage origin.
    assert all("x-goog-api-key" not in h for h in state["storage_headers"])
    assert len(state["storage_headers"]) == (delivery == "uri")


async def test_an_inline_result_is_fetched_again_after_a_restart(
    http: httpx.AsyncClient, gsim: RunningSimulator, clock: FakeClock, tmp_path: Path
) -> None:
    await knobs(http, gsim, delivery="inline")
    first = google(http, gsim, tmp_path / "spill")
    interaction, status = await render(first, clock, VideoRequest("a kite", Mode.T2V, "16:9", 4))
    assert status.video_url and list((tmp_path / "spill").iterdir())
    await first.aclose()
    # A new process: the file is gone (deleted at start) and the marker names nothing.
    again = google(http, gsim, tmp_path / "spill")
    assert list((tmp_path / "spill").iterdir()) == []
    with pytest.raises(ResultExpired):
        await again.download(status.video_url, tmp_path / "out.mp4", 50 << 20)
    fresh = await again.fetch(interaction)  # what the deliverer does on ResultExpired
    assert await downloaded(again, fresh, tmp_path / "out.mp4")
    assert again.shareable(fresh.video_url or "") is None  # a marker is no link to share
    await again.aclose()


async def test_a_poll_that_is_not_claimed_leaves_no_file(
    provider: HttpProvider,
    http: httpx.AsyncClient,
    gsim: RunningSimulator,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    await knobs(http, gsim, delivery="inline")
    interaction, _ = await render(provider, clock, VideoRequest("a kite", Mode.T2V, "16:9", 4))
    for _ in range(3):  # polled again and again: one video held, never one per poll
        await provider.fetch(interaction)
    assert len(list((tmp_path / "spill").iterdir())) == 1
    await provider.aclose()
    assert list((tmp_path / "spill").iterdir()) == []


# -- "Edit this video" ----------------------------------------------------------------------


async def test_editing_a_result_continues_its_interaction_without_uploading(
    provider: HttpProvider,
    http: httpx.AsyncClient,
    gsim: RunningSimulator,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    first, done = await render(provider, clock, VideoRequest("a lighthouse", Mode.T2V, "9:16", 6))
    result = MediaRef("video", "", "", "video/mp4", 0, url=done.video_url)
    edit = VideoRequest("make it night", Mode.EDIT, "16:9", 8, video=result, previous=first)
    _, status = await render(provider, clock, edit)
    width, height, seconds = await downloaded(provider, status, tmp_path / "night.mp4")
    assert height > width and abs(seconds - 6) < 0.2  # the scene it continued: 9:16, 6 s
    state = await knobs(http, gsim)
    assert [n for n in state["files"] if not n.endswith("out")] == []  # nothing uploaded


async def test_editing_a_result_google_no_longer_keeps_is_refused_plainly(
    provider: HttpProvider,
) -> None:
    gone = MediaRef("video", "", "", "video/mp4", 0, url="https://g.example/v1beta/files/x")
    edit = VideoRequest("make it night", Mode.EDIT, "16:9", 8, video=gone, previous="v1_gone")
    with pytest.raises(ProviderRejected) as refused:
        await provider.submit(edit, "task-2")
    assert refused.value.code == "previous_gone"


# -- ends without a video -------------------------------------------------------------------


async def test_a_safety_refusal_fails_in_the_models_words(
    provider: HttpProvider, clock: FakeClock
) -> None:
    _, status = await render(
        provider, clock, VideoRequest("something forbidden", Mode.T2V, "16:9", 4)
    )
    assert status.state is ProviderState.FAILED and status.video_url is None
    assert "content policy" in (status.error_message or "")


@pytest.mark.parametrize("end", ["budget_exceeded", "incomplete", "requires_action"])
async def test_the_other_ends_are_terminal(
    provider: HttpProvider, clock: FakeClock, end: str
) -> None:
    _, status = await render(provider, clock, VideoRequest(f"a boat #{end}", Mode.T2V, "16:9", 4))
    assert status.state is ProviderState.FAILED and status.error_code == end


async def test_an_unknown_interaction_is_not_found_not_refused(provider: HttpProvider) -> None:
    with pytest.raises(TaskNotFound):
        await provider.fetch("v1_no_such_interaction")


async def test_a_submit_past_the_rate_cap_gets_an_id_then_fails_on_its_first_poll(
    provider: HttpProvider, http: httpx.AsyncClient, gsim: RunningSimulator, clock: FakeClock
) -> None:
    await knobs(http, gsim, rate_cap=1)
    running = await provider.submit(VideoRequest("first", Mode.T2V, "16:9", 4), "t1")
    capped = await provider.submit(VideoRequest("second", Mode.T2V, "16:9", 4), "t2")
    assert capped.startswith("v1_")  # an id proves nothing: the first poll says no
    status = await provider.fetch(capped)
    assert status.state is ProviderState.FAILED and status.error_code == "too_many_requests"
    clock.advance(5)
    assert (await provider.fetch(running)).state is ProviderState.RUNNING
    state = await http.get(f"{gsim.url}/_sim/state")
    assert state.json()["tasks_created"] == 2  # never resent


# -- the Files API --------------------------------------------------------------------------


async def test_a_clip_is_used_only_once_active(
    provider: HttpProvider, http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> None:
    await knobs(http, gsim, file_processing_looks=3)
    uri = await provider.stage(movie(tmp_path / "clip.mp4"))
    state = await knobs(http, gsim)
    assert state["files"] == {f"files/{uri.rsplit('/', 1)[1]}": "ACTIVE"}


async def test_a_file_google_cannot_process_is_a_clear_refusal(
    provider: HttpProvider, http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> None:
    await knobs(http, gsim, file_fate="FAILED")
    with pytest.raises(ProviderRejected, match="could not process the uploaded video") as refused:
        await provider.stage(movie(tmp_path / "clip.mp4"))
    assert refused.value.code == "file_failed"


async def test_a_file_still_processing_after_the_wait_is_tried_again_later(
    http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> None:
    await knobs(http, gsim, file_processing_looks=10)
    impatient = google(http, gsim, tmp_path / "spill", FileWait(delays=(1.0,), sleep=_no_pause))
    with pytest.raises(ProviderTransient, match="still processing"):
        await impatient.stage(movie(tmp_path / "clip.mp4"))
    await impatient.aclose()


async def test_a_big_image_goes_through_the_files_api_and_a_small_one_inline(
    provider: HttpProvider, http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> None:
    small = await provider.stage(picture(tmp_path / "s.png"))
    big = await provider.stage(picture(tmp_path / "b.png", noise=True))
    assert small.startswith("inline:") and big.startswith(f"{gsim.url}/v1beta/files/")
    assert len((await knobs(http, gsim))["files"]) == 1


# -- through the worker ---------------------------------------------------------------------


async def test_the_worker_delivers_an_inline_result_even_across_a_restart(
    http: httpx.AsyncClient,
    gsim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    tmp_path: Path,
) -> None:
    await knobs(http, gsim, delivery="inline")
    chat = FakeChat(upload_failures=[DeliveryTransient("Slack is down")])
    first = google(http, gsim, tmp_path / "spill")
    worker = fake_clock_worker(ledger, first, chat, clock, tmp_path / "scratch")
    service = VideoService(ledger, TEST_POLICY, clock.now, worker.wake)
    task, _ = await service.accept(t2v("a kite over dunes"), target(), "evt-1")
    for _ in range(60):  # render, fetch the video, fail to post it once
        await worker.step()
        clock.advance(1)
        current = await ledger.get(task.task_id)
        assert current is not None
        if current.attempts:
            break
    assert current.state is TaskState.DELIVERING and current.provider_task_id
    polls = (await http.get(f"{gsim.url}/_sim/state")).json()["polls_by_task"]
    before = polls[current.provider_task_id]
    await first.aclose()
    # A new process: the spilled video is gone; the deliverer asks the provider again.
    again = google(http, gsim, tmp_path / "spill")
    worker = fake_clock_worker(ledger, again, chat, clock, tmp_path / "scratch")
    for _ in range(60):
        await worker.step()
        if await ledger.next_due_at() is None:
            break
        clock.advance(1)
    done = await ledger.get(task.task_id)
    assert done is not None and done.state is TaskState.DELIVERED
    [upload] = chat.uploads
    assert upload.data[4:8] == b"ftyp"
    assert (done.result_url or "").startswith(MARKER)  # a marker, never megabytes of base64
    assert list((tmp_path / "spill").iterdir()) == []
    polls = (await http.get(f"{gsim.url}/_sim/state")).json()["polls_by_task"]
    assert polls[current.provider_task_id] == before + 1  # one poll for the video again
    await again.aclose()


async def test_googles_own_fault_bodies_read_as_what_they_mean(
    http: httpx.AsyncClient, gsim: RunningSimulator, tmp_path: Path
) -> None:
    limited = await http.post(f"{gsim.url}/_sim/config", json={"rate_429": 1.0, "retry_after": 0})
    assert limited.status_code == 200
    provider = google(http, gsim, tmp_path / "spill")
    with pytest.raises(RateLimited) as slowed:
        await provider.fetch("v1_any")
    assert slowed.value.code == "rate_limit_exceeded"
    await http.post(f"{gsim.url}/_sim/config", json={"rate_429": 0.0})
    stranger = HttpProvider(
        http,
        GoogleDialect(PATIENT),
        base_url=gsim.url,
        api_key="AIza-not-this-one",
        model="gemini-omni-1.1-flash",
        auth="x-goog-api-key",
        fetcher=loopback_fetcher(),
        spill_dir=tmp_path / "spill2",
    )
    with pytest.raises(ProviderAuthError) as refused:
        await stranger.fetch("v1_any")
    assert refused.value.code == "authentication" and "AIza-not-this-one" not in str(refused.value)
    await provider.aclose()
    await stranger.aclose()
