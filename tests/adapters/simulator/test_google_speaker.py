"""The simulator's `google` and `vertex` speakers on the wire, as a client that is not ours sees
them: Google's 400 rules, both error bodies, statuses, cancel, the Files API's resumable upload
and states, the redirect to a storage origin, Vertex's tokens, and `videobot simulate`."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.fakes.clock import FakeClock
from tests.paths import ROOT

KEY = "AIza-sim-test-key"
HEADERS = {"x-goog-api-key": KEY}
TEXT = {"type": "text", "text": "a fox"}


@pytest.fixture
async def gsim(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(
        dialect="google", render_seconds=10, queue_seconds=1, api_key=KEY, video_height=96
    )
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


def body(**changes: Any) -> dict[str, Any]:
    made: dict[str, Any] = {
        "model": "gemini-omni-1.1-flash",
        "background": True,
        "input": "a fox in snow",
        "generation_config": {"video_config": {"task": "text_to_video"}},
        "response_format": {"type": "video", "duration": "6s", "aspect_ratio": "9:16"},
    }
    made.update(changes)
    return made


async def create(http: httpx.AsyncClient, sim: RunningSimulator, **changes: Any) -> httpx.Response:
    return await http.post(f"{sim.url}/v1beta/interactions", json=body(**changes), headers=HEADERS)


async def upload(http: httpx.AsyncClient, sim: RunningSimulator, data: bytes) -> dict[str, Any]:
    started = await http.post(
        f"{sim.url}/upload/v1beta/files",
        json={"file": {"display_name": "clip"}},
        headers={
            **HEADERS,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": "video/mp4",
        },
    )
    assert started.status_code == 200, started.text
    sent = await http.post(
        started.headers["x-goog-upload-url"],
        content=data,
        headers={
            **HEADERS,
            "X-Goog-Upload-Offset": "0",
            "X-Goog-Upload-Command": "upload, finalize",
        },
    )
    assert sent.status_code == 200, sent.text
    file: dict[str, Any] = sent.json()["file"]
    return file


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"response_format": {"type": "video", "duration": 6}}, 'e.g. "8s"'),
        ({"response_format": {"type": "video", "duration": "99s"}}, "1-15 s"),
        (
            {
                "input": [
                    {"type": "video", "data": "eA==", "mime_type": "video/mp4"},
                    {"type": "text", "text": "make it night"},
                ],
                "generation_config": {"video_config": {"task": "edit"}},
                "response_format": {"type": "video", "duration": "6s"},
            },
            "edit takes neither duration nor aspect_ratio",
        ),
        ({"model": "gemini-omni-flash-preview"}, "is not found"),
        ({"background": False}, "background must be true"),
        (
            {"input": [{"type": "image", "data": "eA==", "mime_type": "image/png"}] * 11 + [TEXT]},
            "at most",
        ),
        ({"input": [{"type": "image", "data": "eA=="}, TEXT]}, "needs data and mime_type"),
        ({"generation_config": {"video_config": {"task": "image_to_video"}}}, "do not fit"),
        ({"response_format": {"type": "video", "resolution": "8k"}}, "resolution"),
        ({"previous_interaction_id": "v1_nope"}, "Invalid interaction name"),
    ],
)
async def test_requests_google_refuses_get_a_400_naming_the_field(
    http: httpx.AsyncClient, gsim: RunningSimulator, changes: dict[str, Any], says: str
) -> None:
    answer = await create(http, gsim, **changes)
    assert answer.status_code == 400
    assert says in answer.json()["error"]["message"]
    assert (await http.get(f"{gsim.url}/_sim/state")).json()["tasks_created"] == 0


async def test_a_key_in_both_places_is_refused(
    http: httpx.AsyncClient, gsim: RunningSimulator
) -> None:
    answer = await http.post(
        f"{gsim.url}/v1beta/interactions", params={"key": KEY}, json=body(), headers=HEADERS
    )
    assert answer.status_code == 400 and "Multiple authentication" in answer.text


async def test_an_interaction_runs_without_progress_and_ends_with_its_video(
    http: httpx.AsyncClient, gsim: RunningSimulator, clock: FakeClock
) -> None:
    created = (await create(http, gsim, webhook_config={"uris": ["https://bot.example/cb"]})).json()
    assert created["id"].startswith("v1_") and created["status"] == "in_progress"
    assert gsim.simulator.tasks[created["id"]].callback_url == "https://bot.example/cb"
    url = f"{gsim.url}/v1beta/interactions/{created['id']}"
    assert (await http.get(url, headers=HEADERS)).json()["status"] == "queued"
    clock.advance(5)
    running = (await http.get(url, headers=HEADERS)).json()
    assert running["status"] == "in_progress" and "progress" not in running
    clock.advance(10)
    done = (await http.get(url, headers=HEADERS)).json()
    assert done["status"] == "completed"
    [video] = done["steps"][-1]["content"]
    assert video["type"] == "video" and "data" in video  # inline unless asked for a link
    assert base64.b64decode(video["data"])[4:8] == b"ftyp"
    assert done["usage"]["output_tokens_by_modality"] == [{"modality": "video", "tokens": 6 * 5792}]


async def test_an_unknown_interaction_answers_400_invalid_name(
    http: httpx.AsyncClient, gsim: RunningSimulator
) -> None:
    answer = await http.get(f"{gsim.url}/v1beta/interactions/v1_unknown", headers=HEADERS)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Invalid interaction name"


@pytest.mark.parametrize("spelling", ["/cancel", ":cancel"])
async def test_cancel(http: httpx.AsyncClient, gsim: RunningSimulator, spelling: str) -> None:
    created = (await create(http, gsim)).json()
    url = f"{gsim.url}/v1beta/interactions/{created['id']}"
    cancelled = await http.post(url + spelling, headers=HEADERS)
    assert cancelled.json()["status"] == "cancelled"
    assert (await http.get(url, headers=HEADERS)).json()["status"] == "cancelled"


async def test_a_uri_result_redirects_to_a_storage_origin_that_wants_no_key(
    http: httpx.AsyncClient, gsim: RunningSimulator, clock: FakeClock
) -> None:
    created = (
        await create(http, gsim, response_format={"type": "video", "delivery": "uri"})
    ).json()
    clock.advance(20)
    done = (
        await http.get(f"{gsim.url}/v1beta/interactions/{created['id']}", headers=HEADERS)
    ).json()
    uri = done["steps"][-1]["content"][0]["uri"]
    assert uri.startswith(f"{gsim.url}/v1beta/files/") and uri.endswith(":download?alt=media")
    assert (await http.get(uri)).status_code == 401  # the link itself wants the key
    redirect = await http.get(uri, headers=HEADERS)
    assert redirect.status_code == 302
    storage = redirect.headers["location"]
    assert storage.startswith(gsim.url.replace("127.0.0.1", "localhost"))
    video = await http.get(storage)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


async def test_the_files_api_upload_states_and_refusals(
    http: httpx.AsyncClient, gsim: RunningSimulator
) -> None:
    await http.post(f"{gsim.url}/_sim/google", json={"file_processing_looks": 2})
    clip = render_mp4("clip", "9:16", 2, 96)
    file = await upload(http, gsim, clip)
    assert file["state"] == "PROCESSING" and file["uri"].endswith(file["name"])
    part = {"type": "video", "uri": file["uri"], "mime_type": "video/mp4"}
    edit = {"generation_config": {"video_config": {"task": "edit"}}, "response_format": {}}
    early = await create(http, gsim, input=[part, {"type": "text", "text": "x"}], **edit)
    assert early.status_code == 400 and "not in an ACTIVE state" in early.text
    states = [
        (await http.get(f"{gsim.url}/v1beta/{file['name']}", headers=HEADERS)).json()["state"]
        for _ in range(3)
    ]
    assert states == ["PROCESSING", "PROCESSING", "ACTIVE"]
    assert (
        await create(http, gsim, input=[part, {"type": "text", "text": "x"}], **edit)
    ).is_success
    foreign = {**part, "uri": f"{gsim.url}/v1beta/files/notours"}
    refused = await create(http, gsim, input=[foreign, {"type": "text", "text": "x"}], **edit)
    assert refused.status_code == 403
    assert refused.json()[0]["error"]["status"] == "PERMISSION_DENIED"  # the older body


async def test_an_upload_must_say_what_it_sends(
    http: httpx.AsyncClient, gsim: RunningSimulator
) -> None:
    bare = await http.post(
        f"{gsim.url}/upload/v1beta/files", headers={**HEADERS, "X-Goog-Upload-Command": "start"}
    )
    assert bare.status_code == 400 and "resumable" in bare.text
    started = await http.post(
        f"{gsim.url}/upload/v1beta/files",
        headers={
            **HEADERS,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "10",
            "X-Goog-Upload-Header-Content-Type": "video/mp4",
        },
    )
    short = await http.post(
        started.headers["x-goog-upload-url"],
        content=b"12345",
        headers={
            **HEADERS,
            "X-Goog-Upload-Offset": "0",
            "X-Goog-Upload-Command": "upload, finalize",
        },
    )
    assert short.status_code == 400 and "declared length" in short.text


async def test_models_are_known_or_not_found(
    http: httpx.AsyncClient, gsim: RunningSimulator
) -> None:
    known = await http.get(f"{gsim.url}/v1beta/models/gemini-omni-1.1-flash", headers=HEADERS)
    assert known.status_code == 200
    unknown = await http.get(f"{gsim.url}/v1beta/models/gemini-omni-9", headers=HEADERS)
    assert unknown.status_code == 404


async def test_vertex_wants_a_token_it_issued(clock: FakeClock, http: httpx.AsyncClient) -> None:
    running = await start_simulator(SimConfig(dialect="vertex"), clock=clock.monotonic)
    try:
        url = f"{running.url}/v1beta1/projects/p/locations/global/interactions"
        refused = await http.post(url, json=body(), headers={"Authorization": "Bearer ya29.x"})
        assert refused.status_code == 401
        assert refused.json()[0]["error"]["status"] == "UNAUTHENTICATED"
        grant = await http.post(
            f"{running.url}/oauth2/token", data={"grant_type": "password", "assertion": "x"}
        )
        assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
        bad = await http.post(
            f"{running.url}/oauth2/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b"},
        )
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    finally:
        await running.close()


def test_videobot_simulate_speaks_google() -> None:
    command = [sys.executable, "-m", "bot", "simulate", "--dialect", "google", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split()[3]
            answer = httpx.post(
                f"{url}/v1beta/interactions", json=body(), headers=HEADERS, trust_env=False
            )
            assert answer.status_code == 200 and json.loads(answer.text)["id"].startswith("v1_")
        finally:
            process.terminate()
            process.wait(timeout=10)
