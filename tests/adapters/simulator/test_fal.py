"""The simulator speaking fal's queue, over plain HTTP: submit answers (checked against the
published one), 202 statuses with a queue position and no progress, COMPLETED with `error` on a
failure, the response's `video.url` or its error, 422 validation bodies, and fal_webhook kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.adapters.provider.gateway_engine import recorded
from tests.conftest import SIM_KEY
from tests.fakes.clock import FakeClock

AUTH = {"Authorization": f"Key {SIM_KEY}"}
APP = "/google/gemini-omni-flash"


@pytest.fixture
async def fal(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(dialect="fal", api_key=SIM_KEY, render_seconds=20, queue_seconds=2)
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


async def submit(
    http: httpx.AsyncClient, sim: RunningSimulator, path: str = APP, **fields: Any
) -> httpx.Response:
    body = {"prompt": "a lighthouse at dusk", **fields}
    return await http.post(f"{sim.url}{path}", json=body, headers=AUTH)


async def test_a_request_lives_as_fals_queue_tells_it(
    fal: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = (await submit(http, fal)).json()
    assert set(recorded("fal_submit")) <= set(first) and first["status"] == "IN_QUEUE"
    assert uuid.UUID(first["request_id"])
    second = (await submit(http, fal, duration=3, aspect_ratio="9:16")).json()
    assert second["status_url"] == f"{fal.url}{APP}/requests/{second['request_id']}/status"

    queued = await http.get(second["status_url"], headers=AUTH)
    assert queued.status_code == 202  # fal answers 202 until the request is done
    assert queued.json()["status"] == "IN_QUEUE" and queued.json()["queue_position"] == 1
    assert set(recorded("fal_in_queue")) <= set(queued.json())
    clock.advance(2 + 5)
    running = await http.get(second["status_url"], headers=AUTH)
    assert running.status_code == 202 and running.json()["status"] == "IN_PROGRESS"
    assert "progress" not in running.json()  # fal reports no progress
    early = await http.get(second["response_url"], headers=AUTH)
    assert early.status_code == 400
    clock.advance(15)
    done = await http.get(second["status_url"], headers=AUTH)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    assert set(recorded("fal_completed")) <= set(done.json()) and "error" not in done.json()
    result = (await http.get(second["response_url"], headers=AUTH)).json()
    assert set(result["video"]) == {"url", "content_type", "file_name"}
    video = await http.get(result["video"]["url"])
    assert video.content[4:8] == b"ftyp"


async def test_modes_have_paths_and_the_webhook_is_kept(
    fal: RunningSimulator, http: httpx.AsyncClient
) -> None:
    hook = "https://bot.example/cb/fal?sig=1"
    image = await submit(
        http,
        fal,
        f"/fal-ai/gemini-omni-flash/image-to-video?fal_webhook={hook}",
        image_url="data:image/png;base64,iVBOR",
    )
    refs = await submit(
        http, fal, f"{APP}/reference-to-video", image_urls=["https://a/1.png", "https://a/2.png"]
    )
    edit = await submit(http, fal, f"{APP}/edit", video_url="https://cdn.example/c.mp4")
    tasks = fal.simulator.tasks
    made = [tasks[a.json()["request_id"]] for a in (image, refs, edit)]
    assert [(t.mode, t.image_count) for t in made] == [
        ("image-to-video", 1),
        ("r2v", 2),
        ("video-edit", 0),
    ]
    assert made[0].callback_url == "https://bot.example/cb/fal?sig=1"
    assert image.json()["response_url"].startswith(f"{fal.url}/fal-ai/gemini-omni-flash/requests/")


async def test_failures_complete_with_an_error_and_keep_it_in_the_response(
    fal: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    policy = (await submit(http, fal, prompt="a forbidden thing")).json()
    await http.post(f"{fal.url}/_sim/config", json={"fail_rate": 1.0})
    broken = (await submit(http, fal, prompt="a calm lake")).json()
    clock.advance(60)
    status = (await http.get(policy["status_url"], headers=AUTH)).json()
    assert set(recorded("fal_completed_error")) <= set(status)
    assert (status["status"], status["error_type"]) == ("COMPLETED", "content_policy_violation")
    refused = await http.get(policy["response_url"], headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "content_policy_violation"
    failed = await http.get(broken["response_url"], headers=AUTH)
    assert failed.status_code == 500 and failed.json()["error_type"] == "internal_error"


@pytest.mark.parametrize(
    ("path", "fields", "field"),
    [
        (APP, {"prompt": None}, "prompt"),
        (APP, {"duration": 12}, "duration"),
        (APP, {"aspect_ratio": "1:1"}, "aspect_ratio"),
        (f"{APP}/image-to-video", {}, "image_url"),
        (f"{APP}/image-to-video", {"image_url": "file:///etc/passwd"}, "image_url"),
        (f"{APP}/reference-to-video", {"image_urls": []}, "image_urls"),
        (f"{APP}/edit", {"video_url": "data:image/png;base64,AA"}, "video_url"),
    ],
)
async def test_invalid_input_is_422_locating_the_field(
    fal: RunningSimulator, http: httpx.AsyncClient, path: str, fields: dict[str, Any], field: str
) -> None:
    answer = await submit(http, fal, path, **fields)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", field]
    assert fal.simulator.stats.tasks_created == 0


async def test_unknown_apps_requests_and_keys(
    fal: RunningSimulator, http: httpx.AsyncClient
) -> None:
    assert (await submit(http, fal, "/google/veo3")).status_code == 404
    lost = await http.get(f"{fal.url}{APP}/requests/{uuid.uuid4()}/status", headers=AUTH)
    assert lost.status_code == 404 and "detail" in lost.json()
    wrong = await http.post(
        f"{fal.url}{APP}", json={"prompt": "x"}, headers={"Authorization": "Key no"}
    )
    assert wrong.status_code == 401 and set(wrong.json()) == {"detail"}
    # The shared routes are not taken by the model paths.
    upload = await http.post(
        f"{fal.url}/v1/uploads/images", files={"file": ("a.png", b"x")}, headers=AUTH
    )
    assert upload.status_code == 200
    await http.post(f"{fal.url}/_sim/config", json={"rate_429": 1.0})
    limited = await submit(http, fal)
    assert limited.status_code == 429 and limited.json()["error_type"] == "rate_limited"
