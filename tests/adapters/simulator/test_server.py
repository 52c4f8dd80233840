"""The upstream simulator on its own, over loopback with plain HTTP: auth, the 400 messages, both
dialects' wire shapes (checked against the recorded payloads), task fates, idempotency counting,
expiry, the config endpoint, uploads, the chat-completions trap and the MP4 it renders."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import av
import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import frame_size, render_mp4
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator, start_simulator
from adapters.simulator.wire import held_image
from tests.conftest import SIM_KEY
from tests.fakes.clock import FakeClock
from tests.paths import PAYLOADS

AUTH = {"Authorization": f"Bearer {SIM_KEY}"}
PAYLOADS = PAYLOADS / "upstream"
GEN = "/v1/videos/generations"


def guide(prompt: str = "a lighthouse at dusk", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "duration": 6, "aspect_ratio": "16:9"}
    body.update(fields)
    mode = body.pop("mode", "text-to-video")
    return {"model": "gemini_omni_flash", "mode": mode, "input": body}


def flat(prompt: str = "a lighthouse at dusk", **fields: Any) -> dict[str, Any]:
    return {"model": "gemini_omni_flash", "prompt": prompt, "duration": 6, **fields}


async def post(
    http: httpx.AsyncClient, sim: RunningSimulator, body: Any, **headers: str
) -> httpx.Response:
    return await http.post(f"{sim.url}{GEN}", json=body, headers={**AUTH, **headers})


async def poll(http: httpx.AsyncClient, sim: RunningSimulator, task_id: str) -> dict[str, Any]:
    response = await http.get(f"{sim.url}{GEN}/{task_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def configure(http: httpx.AsyncClient, sim: RunningSimulator, **knobs: Any) -> httpx.Response:
    return await http.post(f"{sim.url}/_sim/config", json=knobs)


def recorded(name: str) -> set[str]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text())
    return set(data)


# -- auth -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer nope"}, {"Authorization": SIM_KEY}],
)
async def test_a_missing_or_wrong_key_is_401_in_the_error_shape(
    sim: RunningSimulator, http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post(f"{sim.url}{GEN}", json=guide(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    state = (await http.get(f"{sim.url}/_sim/state")).json()  # test hooks need no key
    assert state["responses_401"] == 1 and state["tasks_created"] == 0


async def test_any_non_empty_key_is_accepted_when_none_is_configured(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    running = await start_simulator(SimConfig(), clock=clock.monotonic)
    try:
        ok = await http.post(
            f"{running.url}{GEN}", json=guide(), headers={"Authorization": "Bearer anything"}
        )
        assert ok.status_code == 200
        empty = await http.post(f"{running.url}{GEN}", json=guide())
        assert empty.status_code == 401
    finally:
        await running.close()


# -- the 400 messages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**guide(), "model": "sora"}, ["model must be one of", "gemini_omni_flash"]),
        (guide(mode="text2video"), ["mode must be one of", "text-to-video"]),
        (guide(prompt="  "), ["prompt is required"]),
        (guide(duration=5), ["duration must be one of", "[4, 6, 10]"]),
        (guide(duration="6"), ["duration must be one of"]),
        (guide(duration=6.5), ["duration must be one of"]),
        (guide(aspect_ratio="1:1"), ["aspect_ratio", "16:9 or 9:16"]),
        (guide(resolution="1080p"), ["resolution", "720P"]),
        (flat(image_urls=["https://a", "https://b"]), ["image_urls takes 0, 1 or 3"]),
        (flat(image_urls="https://a"), ["image_urls must be a list"]),
        (guide(mode="image-to-video"), ["do not fit mode image-to-video"]),
        (guide(mode="video-edit", image_urls=["https://a"]), ["do not fit mode video-edit"]),
        (guide(video_url=7, mode="video-edit"), ["video_url must be a URL"]),
        (["not", "an", "object"], ["JSON object"]),
    ],
)
async def test_invalid_requests_are_400_naming_the_field(
    sim: RunningSimulator, http: httpx.AsyncClient, body: Any, words: list[str]
) -> None:
    response = await post(http, sim, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    for word in words:
        assert word in error["message"]
    assert sim.simulator.stats.tasks_created == 0


async def test_a_body_that_is_not_json_is_400(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(f"{sim.url}{GEN}", content=b"{oops", headers=AUTH)
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]["message"]


async def test_a_whole_float_duration_is_accepted_and_renders(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, sim, video_height=96)
    task_id = (await post(http, sim, flat(duration=4.0))).json()["id"]
    clock.advance(60)
    await poll(http, sim, task_id)
    video = await http.get(f"{sim.url}/files/{task_id}.mp4")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


# -- wire shapes of both dialects -----------------------------------------------------------


async def test_guide_task_lifecycle_matches_the_recorded_shapes(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await post(http, sim, guide())).json()
    assert set(created) == recorded("guide_submit") and created["status"] == "queued"
    task_id = created["task_id"]

    queued = await poll(http, sim, task_id)
    assert set(queued) == recorded("guide_queued") and queued["progress"] == 0
    clock.advance(2 + 5)
    running = await poll(http, sim, task_id)
    assert set(running) == recorded("guide_running")
    assert (running["status"], running["progress"]) == ("running", 25)
    clock.advance(15)
    done = await poll(http, sim, task_id)
    assert set(done) == recorded("guide_completed")
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["video_url"] == f"{sim.url}/files/{task_id}.mp4"
    assert sim.simulator.snapshot()["polls_by_task"] == {task_id: 3}


async def test_toapis_task_lifecycle_matches_the_recorded_shapes(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = (await post(http, sim, flat())).json()
    assert set(created) == recorded("toapis_submit")
    assert created["object"] == "generation.task" and isinstance(created["created_at"], int)
    clock.advance(2 + 10)
    running = await poll(http, sim, created["id"])
    assert running["status"] == "in_progress" and "result" not in running
    clock.advance(10)
    done = await poll(http, sim, created["id"])
    assert set(done) == recorded("toapis_completed") and done["status"] == "completed"
    # expires_at is result_ttl after the render ended, which completed_at announces.
    assert done["expires_at"] - done["completed_at"] == 86400
    assert done["completed_at"] - created["created_at"] in (21, 22, 23)


async def test_a_policy_word_fails_the_task_with_content_policy_violation(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    flagged = (await post(http, sim, guide("a Forbidden ritual"))).json()["task_id"]
    fine = (await post(http, sim, guide("a hiker in a goretex jacket"))).json()
    clock.advance(2 + 11)
    failed = await poll(http, sim, flagged)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "content_policy_violation"
    assert "video_url" not in failed
    toapis = (await post(http, sim, flat("nsfw stuff"))).json()["id"]
    clock.advance(60)
    assert (await poll(http, sim, toapis))["error"]["code"] == "content_policy_violation"
    # "goretex" holds no policy *word*: that prompt renders.
    assert (await poll(http, sim, fine["task_id"]))["status"] == "completed"
    assert (await http.get(f"{sim.url}/files/{flagged}.mp4")).status_code == 404


async def test_fail_rate_and_never_finish_rate_decide_fates(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, sim, fail_rate=1.0)
    failing = (await post(http, sim, guide("fails"))).json()["task_id"]
    await configure(http, sim, fail_rate=0.0, never_finish_rate=1.0)
    stuck = (await post(http, sim, guide("never ends"))).json()["task_id"]
    clock.advance(3600)
    failed = await poll(http, sim, failing)
    assert failed["status"] == "failed" and failed["error"]["code"] == "internal_error"
    running = await poll(http, sim, stuck)
    assert running["status"] == "running" and running["progress"] == 99


async def test_unknown_task_is_404(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{sim.url}{GEN}/task_nope", headers=AUTH)
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


# -- idempotency, drops, slow answers, 429/500 ----------------------------------------------


async def test_an_idempotency_key_names_one_task_and_every_submit_is_counted(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    first = (await post(http, sim, guide(), **{IDEMPOTENCY_HEADER: "k1"})).json()
    second = (await post(http, sim, guide(), **{IDEMPOTENCY_HEADER: "k1"})).json()
    assert first["task_id"] == second["task_id"]
    state = (await http.get(f"{sim.url}/_sim/state")).json()
    assert state["tasks_created"] == 1
    assert state["submits_by_key"] == {"k1": 2}
    assert state["submits_by_prompt"] == {"a lighthouse at dusk": 1}


async def test_a_gateway_ignoring_keys_bills_every_resend(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await configure(http, sim, honour_idempotency=False)
    ids = {(await post(http, sim, guide(), **{IDEMPOTENCY_HEADER: "k1"})).json()["task_id"]}
    ids.add((await post(http, sim, guide(), **{IDEMPOTENCY_HEADER: "k1"})).json()["task_id"])
    state = (await http.get(f"{sim.url}/_sim/state")).json()
    assert len(ids) == 2 and state["tasks_created"] == 2
    assert state["submits_by_prompt"] == {"a lighthouse at dusk": 2}


async def test_drop_after_submit_creates_the_task_and_cuts_the_connection(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await configure(http, sim, drop_after_submit=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        await post(http, sim, guide())
    state = (await http.get(f"{sim.url}/_sim/state")).json()
    assert state["tasks_created"] == 1 and state["dropped"] == 1


async def test_a_slow_submit_has_created_the_task_before_it_answers(
    sim: RunningSimulator, clock: FakeClock
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0, read=0.05)) as impatient:
        await configure(impatient, sim, submit_latency=0.3)
        with pytest.raises(httpx.ReadTimeout):
            await post(impatient, sim, guide())
    assert sim.simulator.stats.tasks_created == 1  # already billed when the client gave up


async def test_error_after_submit_creates_the_task_then_answers_500(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await configure(http, sim, error_after_submit=1.0)
    response = await post(http, sim, guide())
    assert response.status_code == 500 and response.headers["x-request-id"].startswith("req_")
    assert sim.simulator.stats.tasks_created == 1


async def test_rate_429_answers_with_retry_after_and_rate_500_with_a_request_id(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    await configure(http, sim, rate_429=1.0, retry_after=2.5)
    limited = await post(http, sim, guide())
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2.5"
    assert limited.json()["error"]["type"] == "rate_limit_exceeded"
    await configure(http, sim, rate_429=0.0, rate_500=1.0)
    broken = await http.get(f"{sim.url}{GEN}/task_x", headers=AUTH)
    assert broken.status_code == 500 and broken.json()["error"]["type"] == "internal_error"
    assert broken.headers["x-request-id"].startswith("req_")
    state = (await http.get(f"{sim.url}/_sim/state")).json()
    assert (state["responses_429"], state["responses_500"], state["tasks_created"]) == (1, 1, 0)


# -- result files and expiry ----------------------------------------------------------------


async def test_result_links_expire_result_ttl_after_the_render_finished(
    sim: RunningSimulator, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, sim, result_ttl=100, video_height=96)
    polled = (await post(http, sim, guide("polled"))).json()["task_id"]
    unpolled = (await post(http, sim, guide("unpolled"))).json()["task_id"]
    assert (await http.get(f"{sim.url}/files/{polled}.mp4")).status_code == 404  # not yet
    clock.advance(22 + 50)
    await poll(http, sim, polled)  # first seen completed 50 s after it finished
    assert (await http.get(f"{sim.url}/files/{polled}.mp4")).status_code == 200
    clock.advance(51)  # 101 s after the render ended
    for task_id in (polled, unpolled):
        expired = await http.get(f"{sim.url}/files/{task_id}.mp4")
        assert expired.status_code == 403, task_id
        assert expired.json()["error"]["type"] == "expired"


# -- config, state, uploads, trap, models ---------------------------------------------------


async def test_the_config_endpoint_changes_knobs_live_and_refuses_bad_ones(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    ok = await configure(http, sim, rate_429=0.25, durations=[6, 10], honour_idempotency=False)
    assert ok.status_code == 200
    assert ok.json()["rate_429"] == 0.25 and ok.json()["durations"] == [6, 10]
    state = (await http.get(f"{sim.url}/_sim/state")).json()
    assert state["config"]["honour_idempotency"] is False

    for bad in (
        {"rate_four_twenty_nine": 1},
        {"rate_429": "lots"},
        {"latency": -1},
        {"honour_idempotency": "yes"},
        {"durations": [6, "ten"]},
        {"seed": 1.5},
    ):
        response = await http.post(f"{sim.url}/_sim/config", json=bad)
        assert response.status_code == 400, bad
    assert (await http.post(f"{sim.url}/_sim/config", json=[1])).status_code == 400
    assert sim.simulator.config.rate_429 == 0.25  # nothing half-applied
    assert sim.simulator.config.durations == (6, 10)


async def test_setting_the_seed_replays_the_same_faults(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    async def pattern() -> list[int]:
        await configure(http, sim, seed=42, rate_500=0.5)
        return [
            (await http.get(f"{sim.url}{GEN}/task_x", headers=AUTH)).status_code for _ in range(12)
        ]

    first, second = await pattern(), await pattern()
    assert first == second and {404, 500} == set(first)


async def test_upload_returns_a_public_url_serving_the_bytes(
    sim: RunningSimulator, http: httpx.AsyncClient
) -> None:
    files = {"file": ("cat.png", b"\x89PNG fake", "image/png")}
    response = await http.post(f"{sim.url}/v1/uploads/images", files=files, headers=AUTH)
    assert response.status_code == 200
    url = response.json()["url"]
    served = await http.get(url)
    assert served.content == b"\x89PNG fake" and served.headers["content-type"] == "image/png"
    missing = await http.post(
        f"{sim.url}/v1/uploads/images", files={"image": ("a", b"x")}, headers=AUTH
    )
    assert missing.status_code == 400 and "`file`" in missing.json()["error"]["message"]
    assert sim.simulator.stats.uploads == 1


async def test_the_chat_completions_trap(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    body = {"model": "gemini_omni_flash", "messages": [{"role": "user", "content": "a cat"}]}
    response = await http.post(f"{sim.url}/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "invalid apitype: -1"
    assert sim.simulator.stats.tasks_created == 0


async def test_models_are_listed(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    data = (await http.get(f"{sim.url}/v1/models", headers=AUTH)).json()
    assert "gemini_omni_flash" in {m["id"] for m in data["data"]}


# -- the MP4 itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "height", "size"),
    [("16:9", 360, (640, 360)), ("9:16", 360, (360, 640)), ("16:9", 145, (256, 144))],
)
def test_frame_sizes_are_even_and_keep_the_ratio(
    ratio: str, height: int, size: tuple[int, int]
) -> None:
    assert frame_size(ratio, height) == size


@pytest.mark.parametrize(("ratio", "duration"), [("16:9", 4), ("9:16", 10)])
def test_render_mp4_is_a_real_video_of_the_asked_length_with_audio(
    ratio: str, duration: int
) -> None:
    data = render_mp4(f"prompt for {ratio}", ratio, duration, 96)
    assert data[4:8] == b"ftyp"
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == frame_size(ratio, 96)
        assert abs(float(video.average_rate or 0) - 24) < 0.01
        assert container.duration is not None
        assert abs(container.duration / 1_000_000 - duration) < 0.2
        frames = sum(1 for _ in container.decode(video=0))
        assert frames == duration * 24
    with av.open(io.BytesIO(data)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert sum(f.samples for f in container.decode(audio=0)) > (duration - 0.2) * 24000


def test_an_input_image_is_held_when_it_came_with_the_request_or_was_uploaded_here() -> None:
    png = b"\x89PNG\r\n\x1a\n-pixels"
    inline = base64.b64encode(png).decode()
    uploads = {"abc123": (png, "image/png")}
    assert held_image(f"data:image/png;base64,{inline}", uploads) == png
    assert held_image(inline, uploads) == png  # bare base64, as evolink takes it
    assert held_image("http://127.0.0.1:9/uploads/abc123?x=1", uploads) == png
    assert held_image("http://127.0.0.1:9/uploads/gone", uploads) is None
    assert held_image("https://example.com/cat.png", uploads) is None  # never fetched
    assert held_image("data:image/png;base64,@@not base64@@", uploads) is None
