"""The apimart dialect: its submit bodies, its published answers (tests/payloads/upstream/apimart_*)
read into canonical statuses, its error bodies, and every mode end to end against the simulator
speaking apimart (submit, poll, a decodable MP4; a failure with its reason)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.provider.answer import AnswerReader
from adapters.provider.dialects import DIALECTS
from adapters.provider.dialects.apimart import PREVIOUS_FIELD
from adapters.provider.dialects.base import SubmitContext
from adapters.provider.redact import Redactor
from bot.domain import MediaRef, Mode, TaskState, VideoRequest
from bot.errors import ProviderAuthError, ProviderRejected
from bot.ports import ProviderState, ProviderStatus
from tests.adapters.provider.gateway_engine import (
    POLICY_REASON,
    assert_delivered_mp4,
    clip,
    finished,
    gateway_engine,
    image,
    recorded,
    refused_prompt,
)
from tests.conftest import target
from tests.fakes.clock import FakeClock

APIMART = DIALECTS["apimart"]
CTX = SubmitContext("gemini-omni-flash-preview", inline={"inline:c": "AAAA"})
PICTURE = MediaRef("image", "/m/a.png", "a", "image/png", 9, "a.png", "https://u.apimart.ai/a.png")
CLIP = MediaRef("video", "/m/c.mp4", "c", "video/mp4", 9, "c.mp4", "inline:c")


# -- submit bodies --------------------------------------------------------------------------


def test_text_to_video_is_flat_with_the_model_and_720p() -> None:
    body = APIMART.submit_body(VideoRequest("a fox", Mode.T2V, "9:16", 7), CTX)
    assert body == {
        "model": "gemini-omni-flash-preview",
        "prompt": "a fox",
        "duration": 7,
        "aspect_ratio": "9:16",
        "resolution": "720p",
    }
    assert APIMART.submit_path(VideoRequest("a fox", Mode.T2V, "9:16", 7), CTX) == (
        "/v1/videos/generations"
    )


def test_images_decide_the_mode_and_a_clip_goes_as_a_data_url() -> None:
    r2v = VideoRequest("p", Mode.R2V, "16:9", 8, images=(PICTURE, PICTURE))
    assert APIMART.submit_body(r2v, CTX)["image_urls"] == [PICTURE.url, PICTURE.url]
    edit = APIMART.submit_body(VideoRequest("make it rain", Mode.EDIT, "16:9", 8, video=CLIP), CTX)
    assert edit["video_urls"] == ["data:video/mp4;base64,AAAA"]
    # An edit follows its source: Google refuses duration and aspect_ratio on `edit`.
    assert "duration" not in edit and "aspect_ratio" not in edit


def test_an_edit_of_its_own_result_names_the_previous_task_and_sends_the_clip_too() -> None:
    result = MediaRef("video", "", "", "video/mp4", 0, url="https://upload.apimart.ai/v.mp4")
    request = VideoRequest("warmer", Mode.EDIT, "16:9", 8, video=result, previous="task_01PREV")
    body = APIMART.submit_body(request, CTX)
    assert body[PREVIOUS_FIELD] == "task_01PREV"
    assert body["video_urls"] == ["https://upload.apimart.ai/v.mp4"]


# -- answers --------------------------------------------------------------------------------


def test_the_published_submit_answer_names_the_task() -> None:
    assert APIMART.parse_submit(recorded("apimart_submit")) == "task_01KS1H7ZYSJWH1N779S2FSHTKA"
    # Another apimart endpoint answers one object with `id`: the same task, read the same.
    assert APIMART.parse_submit({"code": 200, "data": {"id": "task_01X"}}) == "task_01X"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"code": 400, "error": {"message": "bad duration", "type": "invalid_duration"}}, "rej"),
        ({"code": 401, "message": "invalid token"}, "auth"),
        ({"code": 500, "message": "upstream busy"}, "value"),
        ({"code": 200, "data": []}, "value"),
        ([], "value"),
    ],
)
def test_a_submit_answer_without_a_task(answer: Any, error: str) -> None:
    # A 4xx in the body says no task was made; anything else may hide one (SubmitAmbiguous).
    expected = {"rej": ProviderRejected, "auth": ProviderAuthError, "value": ValueError}[error]
    with pytest.raises(expected):
        APIMART.parse_submit(answer)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("apimart_processing", ProviderStatus(ProviderState.RUNNING, 45)),
        (
            "apimart_completed",
            ProviderStatus(
                ProviderState.SUCCEEDED,
                100,
                "https://upload.apimart.ai/f/video/9998236911693428-task_01KS1H7ZYSJWH1N779S2FSHTKA_0.mp4",
                datetime(2025, 11, 15, 2, 45, 8, tzinfo=UTC),
            ),
        ),
        (
            "apimart_failed",
            ProviderStatus(
                ProviderState.FAILED,
                0,
                error_code="content_policy_violation",
                error_message="The request was blocked by the upstream content review.",
            ),
        ),
    ],
)
def test_recorded_task_answers(name: str, expected: ProviderStatus) -> None:
    assert APIMART.parse_status(recorded(name)) == expected
    assert APIMART.poll_path("task_01KS1H7ZYSJWH1N779S2FSHTKA") == (
        "/v1/tasks/task_01KS1H7ZYSJWH1N779S2FSHTKA"
    )


def test_the_published_status_example_reads_its_file_and_expiry() -> None:
    # The status page's example is an image task (`result.images[].url` a list): still read.
    status = APIMART.parse_status(recorded("apimart_task_published"))
    assert status.state is ProviderState.SUCCEEDED
    assert status.video_url and status.video_url.endswith("_0.png")
    assert status.expires_at == datetime(2025, 11, 15, 2, 45, 8, tzinfo=UTC)


def test_other_result_shapes_and_a_plain_error() -> None:
    url = "https://x/v.mp4"
    for result in ({"videos": [{"url": url}]}, {"video_url": url}, [url], url):
        body = {"code": 200, "data": {"status": "completed", "result": result}}
        assert APIMART.parse_status(body).video_url == url
    failed = APIMART.parse_status({"data": {"status": "failed", "error": "quota gone"}})
    assert (failed.state, failed.error_message) == (ProviderState.FAILED, "quota gone")
    assert APIMART.parse_status({"data": {"status": "cancelled"}}).state is ProviderState.CANCELLED


def test_its_http_error_body_becomes_a_clear_refusal() -> None:
    response = httpx.Response(402, json=recorded("apimart_error_402"))
    err = AnswerReader(Redactor("sk-x")).error(response)
    assert isinstance(err, ProviderRejected)
    assert str(err) == "Insufficient account balance, please recharge and try again"
    assert err.code == "payment_required"  # its word, not the bare 402


# -- end to end against the simulator -------------------------------------------------------


async def test_every_mode_ends_as_a_decodable_mp4(tmp_path: Path, clock: FakeClock) -> None:
    async with gateway_engine("apimart", tmp_path, clock) as engine:
        cat, dog = await image(tmp_path), await image(tmp_path, "dog.png", 30)
        requests = [
            VideoRequest("a fox in snow", Mode.T2V, "9:16", 5),
            VideoRequest("the cat waves", Mode.I2V, "16:9", 4, images=(cat,)),
            VideoRequest("cat meets dog", Mode.R2V, "16:9", 3, images=(cat, dog)),
            VideoRequest("make it rain", Mode.EDIT, "16:9", 8, video=await clip(tmp_path)),
        ]
        refs = [
            (await engine.service.accept(r, target(), f"evt-{i}"))[0].ref
            for i, r in enumerate(requests)
        ]
        shapes = [(5, True), (4, False), (3, False), (3, False)]  # an edit keeps its source's
        for ref, (seconds, portrait) in zip(refs, shapes, strict=True):
            assert_delivered_mp4(engine, await finished(engine, ref), seconds, portrait)
        # Each task's images were re-hosted (3 uploads); the clip went as a data: URL.
        assert engine.sim.simulator.stats.uploads == 3
        kinds = {kind for _, kind in engine.sim.simulator.uploads.values()}
        assert kinds == {"image/png"}
        modes = sorted(t.mode for t in engine.sim.simulator.tasks.values())
        assert modes == ["image-to-video", "r2v", "text-to-video", "video-edit"]


async def test_edit_this_video_names_the_previous_task(tmp_path: Path, clock: FakeClock) -> None:
    async with gateway_engine("apimart", tmp_path, clock) as engine:
        first, _ = await engine.service.accept(
            VideoRequest("a lighthouse", Mode.T2V, "9:16", 6), target(), "evt-1"
        )
        done = await finished(engine, first.ref)
        clip_url = MediaRef("video", "", "", "video/mp4", 0, url=done.result_url)
        request = VideoRequest(
            "add snow", Mode.EDIT, "9:16", 6, video=clip_url, previous=done.provider_task_id
        )
        edit, _ = await engine.service.accept(request, target(), "evt-2")
        # The simulator renders an edit in its source's shape: found through the previous id.
        assert_delivered_mp4(engine, await finished(engine, edit.ref), 6, portrait=True)


async def test_a_refused_prompt_fails_with_the_gateways_reason(
    tmp_path: Path, clock: FakeClock
) -> None:
    ended = await refused_prompt("apimart", tmp_path, clock, "a forbidden ritual")
    assert (ended.state, ended.error_code) == (TaskState.FAILED, "content_policy_violation")
    assert ended.error_message == POLICY_REASON
