"""The simulator speaking evolink, over plain HTTP: task-unified ids and answer shapes (checked
against the published ones), one model id per mode and its media rules, the callback_url kept for
the call-back, and its error body on faults and bad ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.adapters.provider.gateway_engine import recorded
from tests.conftest import SIM_KEY
from tests.fakes.clock import FakeClock

AUTH = {"Authorization": f"Bearer {SIM_KEY}"}
T2V = "gemini-omni-flash-text-to-video"


@pytest.fixture
async def evolink(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(dialect="evolink", api_key=SIM_KEY, render_seconds=20, queue_seconds=2)
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


async def submit(
    http: httpx.AsyncClient, sim: RunningSimulator, model: str = T2V, **fields: Any
) -> httpx.Response:
    body = {"model": model, "prompt": "a glass marble on a track", **fields}
    return await http.post(f"{sim.url}/v1/videos/generations", json=body, headers=AUTH)


async def task(http: httpx.AsyncClient, sim: RunningSimulator, task_id: str) -> dict[str, Any]:
    answer = await http.get(f"{sim.url}/v1/tasks/{task_id}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def test_a_task_lives_as_evolink_tells_it(
    evolink: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await submit(http, evolink, callback_url="https://bot.example/cb")).json()
    assert set(created) == set(recorded("evolink_submit"))
    assert created["id"].startswith("task-unified-") and created["status"] == "pending"
    assert created["usage"]["credits_reserved"] > 0
    assert evolink.simulator.tasks[created["id"]].callback_url == "https://bot.example/cb"
    clock.advance(2 + 5)
    running = await task(http, evolink, created["id"])
    assert set(running) == set(recorded("evolink_processing"))
    assert (running["status"], running["progress"]) == ("processing", 25)
    clock.advance(15)
    done = await task(http, evolink, created["id"])
    assert set(done) == set(recorded("evolink_completed"))
    assert done["results"] == [f"{evolink.url}/files/{created['id']}.mp4"]
    assert evolink.simulator.tasks[created["id"]].duration == 10  # evolink's own default


async def test_a_policy_word_fails_with_a_string_code(
    evolink: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await submit(http, evolink, prompt="something nsfw")).json()
    clock.advance(60)
    failed = await task(http, evolink, created["id"])
    assert set(failed) == set(recorded("evolink_failed"))
    assert failed["error"]["code"] == "content_policy_violation"


@pytest.mark.parametrize(
    ("model", "fields", "words"),
    [
        ("gemini-omni-flash", {}, "model must be one of"),
        (T2V, {"prompt": ""}, "prompt is required"),
        (T2V, {"image_urls": ["https://a/x.png"]}, "image_urls takes at most 0"),
        ("gemini-omni-flash-image-to-video", {}, "takes 1 to 1 image_urls"),
        (
            "gemini-omni-flash-image-to-video",
            {"image_urls": ["https://a/1.png", "https://a/2.png"]},
            "image_urls takes at most 1",
        ),
        (
            "gemini-omni-flash-reference-to-video",
            {"image_urls": ["https://a/1.png"] * 7},
            "image_urls takes at most 6",
        ),
        ("gemini-omni-flash-video-edit", {}, "video_urls needs the clip"),
        (
            "gemini-omni-flash-video-edit",
            {"video_urls": ["data:video/mp4;base64,AAAA"]},
            "video_urls cannot take",
        ),
        (
            "gemini-omni-flash-video-edit",
            {"video_urls": ["https://a/c.mp4"], "duration": 5},
            "duration and aspect_ratio are refused",
        ),
        (T2V, {"duration": 11}, "from 3 to 10"),
        (T2V, {"aspect_ratio": "4:3"}, "16:9 or 9:16"),
        (T2V, {"callback_url": "ftp://x"}, "callback_url must be an http(s) URL"),
    ],
)
async def test_invalid_submits_are_400_naming_the_field(
    evolink: RunningSimulator,
    http: httpx.AsyncClient,
    model: str,
    fields: dict[str, Any],
    words: str,
) -> None:
    answer = await submit(http, evolink, model, **fields)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert words in answer.json()["error"]["message"]
    assert evolink.simulator.stats.tasks_created == 0


async def test_auto_and_inline_images_are_taken(
    evolink: RunningSimulator, http: httpx.AsyncClient
) -> None:
    answer = await submit(
        http,
        evolink,
        "gemini-omni-flash-image-to-video",
        image_urls=["data:image/png;base64,iVBOR"],
        duration="auto",
        aspect_ratio="auto",
    )
    made = evolink.simulator.tasks[answer.json()["id"]]
    assert (made.mode, made.duration, made.aspect_ratio) == ("image-to-video", 10, "16:9")


async def test_bad_ids_and_faults_wear_evolinks_error_body(
    evolink: RunningSimulator, http: httpx.AsyncClient
) -> None:
    malformed = await http.get(f"{evolink.url}/v1/tasks/abc", headers=AUTH)
    assert malformed.status_code == 400 and malformed.json() == recorded("evolink_error_400")
    unknown = await http.get(f"{evolink.url}/v1/tasks/task-unified-1-nope", headers=AUTH)
    assert unknown.status_code == 404
    no_key = await http.get(f"{evolink.url}/v1/tasks/task-unified-1-nope")
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "unauthorized"
    await http.post(f"{evolink.url}/_sim/config", json={"rate_500": 1.0})
    broken = await submit(http, evolink)
    assert broken.status_code == 500 and broken.headers["x-request-id"].startswith("req_")
    assert broken.json()["error"]["code"] == "internal_error"
