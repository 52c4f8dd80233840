"""The simulator speaking apimart, over plain HTTP: its ids and answer shapes (checked against the
published ones), the task's life with progress and expiry, previous-task edits, its 400 rules and
its error body on faults, and the `videobot simulate --dialect` command for every gateway."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator, start_simulator
from tests.adapters.provider.gateway_engine import recorded
from tests.conftest import SIM_KEY
from tests.fakes.clock import FakeClock

AUTH = {"Authorization": f"Bearer {SIM_KEY}"}
MODEL = "gemini-omni-flash-preview"


@pytest.fixture
async def apimart(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(dialect="apimart", api_key=SIM_KEY, render_seconds=20, queue_seconds=2)
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


async def submit(http: httpx.AsyncClient, sim: RunningSimulator, **fields: Any) -> httpx.Response:
    body = {"model": MODEL, "prompt": "a red apple on a table", **fields}
    return await http.post(f"{sim.url}/v1/videos/generations", json=body, headers=AUTH)


async def task(http: httpx.AsyncClient, sim: RunningSimulator, task_id: str) -> dict[str, Any]:
    answer = await http.get(f"{sim.url}/v1/tasks/{task_id}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 200
    data: dict[str, Any] = answer.json()["data"]
    return data


async def test_a_task_lives_as_apimart_tells_it(
    apimart: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await submit(http, apimart, duration=4, aspect_ratio="9:16")).json()
    published = recorded("apimart_submit")
    assert set(created) == set(published)
    assert set(created["data"][0]) == set(published["data"][0])
    task_id = created["data"][0]["task_id"]
    assert re.fullmatch(r"task_01[0-9A-HJKMNP-TV-Z]{24}", task_id)

    assert (await task(http, apimart, task_id))["status"] == "pending"
    clock.advance(2 + 10)
    running = await task(http, apimart, task_id)
    assert (running["status"], running["progress"]) == ("processing", 50)
    assert set(running) == set(recorded("apimart_processing")["data"])
    clock.advance(10)
    done = await task(http, apimart, task_id)
    assert set(done) == set(recorded("apimart_completed")["data"])
    video = done["result"]["videos"][0]
    assert video["url"] == [f"{apimart.url}/files/{task_id}.mp4"]
    assert video["expires_at"] - done["completed"] == 86400
    assert (await http.get(video["url"][0])).content[4:8] == b"ftyp"


async def test_a_policy_word_fails_with_an_error(
    apimart: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    task_id = (await submit(http, apimart, prompt="a gore scene")).json()["data"][0]["task_id"]
    clock.advance(60)
    failed = await task(http, apimart, task_id)
    assert failed["status"] == "failed" and "result" not in failed
    assert failed["error"]["code"] == "content_policy_violation"


async def test_a_previous_task_is_edited_in_its_own_shape(
    apimart: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = (await submit(http, apimart, duration=5, aspect_ratio="9:16")).json()["data"][0]
    early = await submit(http, apimart, previous_task_id=first["task_id"])
    assert early.status_code == 400  # not finished yet
    clock.advance(60)
    await task(http, apimart, first["task_id"])
    edit = await submit(http, apimart, prompt="add snow", previous_task_id=first["task_id"])
    made = apimart.simulator.tasks[edit.json()["data"][0]["task_id"]]
    assert (made.mode, made.duration, made.aspect_ratio) == ("video-edit", 5, "9:16")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"model": "veo3.1-fast"}, "model must be gemini-omni-flash-preview"),
        ({"prompt": " "}, "prompt is required"),
        ({"image_urls": ["data:image/png;base64,AAAA"]}, "image_urls cannot take"),
        ({"image_urls": ["https://a/x.png"] * 17}, "image_urls takes at most 16"),
        ({"video_urls": ["https://a/1.mp4", "https://a/2.mp4"]}, "video_urls takes at most 1"),
        ({"resolution": "1080p"}, "only 720p"),
        ({"duration": 11}, "duration must be a whole number of seconds from 3 to 10"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio must be 16:9 or 9:16"),
        ({"previous_task_id": "task_01NOPE"}, "previous_task_id"),
    ],
)
async def test_invalid_submits_are_400_naming_the_field(
    apimart: RunningSimulator, http: httpx.AsyncClient, fields: dict[str, Any], words: str
) -> None:
    answer = await submit(http, apimart, **fields)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and error["type"] == "invalid_request_error"
    assert words in error["message"]
    assert apimart.simulator.stats.tasks_created == 0


async def test_faults_wear_apimarts_error_body(
    apimart: RunningSimulator, http: httpx.AsyncClient
) -> None:
    refused = await http.get(f"{apimart.url}/v1/tasks/task_01X", headers={"Authorization": "x"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
    assert (await http.get(f"{apimart.url}/v1/tasks/task_01X", headers=AUTH)).status_code == 404
    await http.post(f"{apimart.url}/_sim/config", json={"rate_429": 1.0})
    limited = await submit(http, apimart)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["error"]["type"] == "rate_limit_exceeded"


async def test_an_idempotency_key_names_one_task(
    apimart: RunningSimulator, http: httpx.AsyncClient
) -> None:
    once = await http.post(
        f"{apimart.url}/v1/videos/generations",
        json={"model": MODEL, "prompt": "twice"},
        headers={**AUTH, IDEMPOTENCY_HEADER: "k1"},
    )
    again = await http.post(
        f"{apimart.url}/v1/videos/generations",
        json={"model": MODEL, "prompt": "twice"},
        headers={**AUTH, IDEMPOTENCY_HEADER: "k1"},
    )
    assert once.json() == again.json() and apimart.simulator.stats.tasks_created == 1


@pytest.mark.parametrize("dialect", ["apimart", "evolink", "fal"])
def test_videobot_simulate_speaks_each_gateway(dialect: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "simulate", "--dialect", dialect, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            url = re.search(r"http://[\d.]+:\d+", line)
            assert url, line
            state = httpx.get(f"{url.group(0)}/_sim/state", timeout=10).json()
            assert state["config"]["dialect"] == dialect
        finally:
            process.terminate()
