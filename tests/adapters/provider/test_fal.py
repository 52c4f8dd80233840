"""The fal dialect: mode paths under the model id, ?fal_webhook=, status and result under
owner/app, its published queue answers and error bodies (tests/payloads/upstream/fal_*), and
every mode end to end against the simulator speaking fal's queue, failures included."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.provider.answer import AnswerReader
from adapters.provider.dialects import DIALECTS, dialect_for
from adapters.provider.dialects.base import SubmitContext
from adapters.provider.dialects.fal import app_of
from adapters.provider.redact import Redactor
from bot.domain import MediaRef, Mode, TaskState, VideoRequest
from bot.errors import ProviderRejected, ProviderTransient
from bot.ports import ProviderState, ProviderStatus
from bot.pricing import Usage
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

FAL = DIALECTS["fal"]
CTX = SubmitContext("google/gemini-omni-flash", inline={"inline:a": "iVBOR", "inline:c": "AAAA"})
PICTURE = MediaRef("image", "/m/a.png", "a", "image/png", 9, "a.png", "inline:a")
CLIP = MediaRef("video", "/m/c.mp4", "c", "video/mp4", 9, "c.mp4", "inline:c")
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"


# -- submit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "path", "body"),
    [
        (
            VideoRequest("a lighthouse", Mode.T2V, "9:16", 3),
            "/google/gemini-omni-flash",
            {"prompt": "a lighthouse", "aspect_ratio": "9:16", "duration": 3},
        ),
        (
            VideoRequest("wave", Mode.I2V, "16:9", 8, images=(PICTURE,)),
            "/google/gemini-omni-flash/image-to-video",
            {
                "prompt": "wave",
                "image_url": "data:image/png;base64,iVBOR",
                "aspect_ratio": "16:9",
                "duration": 8,
            },
        ),
        (
            VideoRequest(
                "<IMAGE_REF_0> meets <IMAGE_REF_1>", Mode.R2V, "16:9", 10, images=(PICTURE, PICTURE)
            ),
            "/google/gemini-omni-flash/reference-to-video",
            {
                "prompt": "<IMAGE_REF_0> meets <IMAGE_REF_1>",
                "image_urls": ["data:image/png;base64,iVBOR"] * 2,
                "aspect_ratio": "16:9",
                "duration": 10,
            },
        ),
        (
            VideoRequest("make it anime", Mode.EDIT, "16:9", 8, video=CLIP),
            "/google/gemini-omni-flash/edit",
            {"prompt": "make it anime", "video_url": "data:video/mp4;base64,AAAA"},
        ),
    ],
)
def test_each_mode_has_its_path_and_body(
    request_: VideoRequest, path: str, body: dict[str, object]
) -> None:
    assert FAL.submit_path(request_, CTX) == path
    assert FAL.submit_body(request_, CTX) == body


def test_the_webhook_rides_in_the_query_encoded() -> None:
    ctx = SubmitContext("fal-ai/gemini-omni-flash", callback_url="https://bot.example/cb?t=1&x=2")
    path = FAL.submit_path(VideoRequest("p", Mode.T2V, "16:9", 8), ctx)
    parts = urlsplit(path)
    assert parts.path == "/fal-ai/gemini-omni-flash"
    assert parse_qs(parts.query) == {"fal_webhook": ["https://bot.example/cb?t=1&x=2"]}


def test_status_and_result_live_under_owner_and_app_of_the_model() -> None:
    assert FAL.poll_path(RID) == f"/google/gemini-omni-flash/requests/{RID}/status"
    assert FAL.result_path(RID) == f"/google/gemini-omni-flash/requests/{RID}"
    other = dialect_for("fal", "fal-ai/gemini-omni-flash/edit")
    assert other.poll_path(RID) == f"/fal-ai/gemini-omni-flash/requests/{RID}/status"
    assert app_of("google/gemini-omni-flash/image-to-video") == "google/gemini-omni-flash"
    with pytest.raises(ValueError, match="owner/app"):
        app_of("gemini-omni-flash")
    with pytest.raises(ProviderRejected, match="VIDEOBOT_MODEL"):
        FAL.submit_path(VideoRequest("p", Mode.T2V, "16:9", 8), SubmitContext("gemini"))


# -- answers --------------------------------------------------------------------------------


def test_recorded_queue_answers() -> None:
    assert FAL.parse_submit(recorded("fal_submit")) == RID
    assert FAL.parse_status(recorded("fal_in_queue")) == ProviderStatus(ProviderState.QUEUED)
    assert FAL.parse_status(recorded("fal_in_progress")) == ProviderStatus(ProviderState.RUNNING)
    # COMPLETED alone holds no video: the client then reads the response.
    assert FAL.parse_status(recorded("fal_completed")) == ProviderStatus(ProviderState.SUCCEEDED)
    assert FAL.parse_result(recorded("fal_result")) == ProviderStatus(
        ProviderState.SUCCEEDED,
        100,
        "https://v3.fal.media/files/penguin/ZsmQAAZeT0JD9tGQXUGgb_output.mp4",
    )


def test_a_completed_request_with_an_error_is_a_failure_with_its_reason() -> None:
    assert FAL.parse_status(recorded("fal_completed_error")) == ProviderStatus(
        ProviderState.FAILED,
        error_code="content_policy_violation",
        error_message="The content was flagged by a content checker.",
        usage=Usage(billed=False),  # fal does not bill a failed request
    )
    # Other readings of a failure: a FAILED status, or a result that is an error body.
    assert FAL.parse_status({"status": "FAILED"}).state is ProviderState.FAILED
    refused = FAL.parse_result(recorded("fal_error_422"))
    assert (refused.state, refused.error_code) == (ProviderState.FAILED, "content_policy_violation")
    inline = FAL.parse_status({"status": "COMPLETED", "response": recorded("fal_result")})
    assert inline.video_url and inline.video_url.endswith("_output.mp4")


@pytest.mark.parametrize(
    ("status", "name", "kind", "code", "message"),
    [
        (
            422,
            "fal_error_422",
            ProviderRejected,
            "content_policy_violation",
            "The content was flagged by a content checker.",
        ),
        (504, "fal_error_504", ProviderTransient, "request_timeout", "Request timed out"),
    ],
)
def test_its_error_bodies_become_clear_errors(
    status: int, name: str, kind: type[Exception], code: str, message: str
) -> None:
    err = AnswerReader(Redactor("fal-key")).error(httpx.Response(status, json=recorded(name)))
    assert isinstance(err, kind) and err.code == code and str(err).startswith(message)
    bare = httpx.Response(
        503, json={"detail": "busy"}, headers={"X-Fal-Error-Type": "runner_scheduling_failure"}
    )
    assert AnswerReader(Redactor("k")).error(bare).code == "runner_scheduling_failure"


# -- end to end against the simulator -------------------------------------------------------


async def test_every_mode_ends_as_a_decodable_mp4(tmp_path: Path, clock: FakeClock) -> None:
    async with gateway_engine("fal", tmp_path, clock, "https://bot.example/cb/fal") as engine:
        cat = await image(tmp_path)
        requests = [
            VideoRequest("a fox in snow", Mode.T2V, "9:16", 3),
            VideoRequest("the cat waves", Mode.I2V, "16:9", 4, images=(cat,)),
            VideoRequest("two cats", Mode.R2V, "16:9", 5, images=(cat, cat)),
            VideoRequest("make it anime", Mode.EDIT, "16:9", 8, video=await clip(tmp_path)),
        ]
        tasks = [
            (await engine.service.accept(r, target(), f"e{i}"))[0] for i, r in enumerate(requests)
        ]
        shapes = [(3, True), (4, False), (5, False), (3, False)]  # the edit follows its clip
        for task, (seconds, portrait) in zip(tasks, shapes, strict=True):
            assert_delivered_mp4(engine, await finished(engine, task.ref), seconds, portrait)
        edit, _ = await engine.service.edit(tasks[0].ref, "add snow", target(), "e-edit")
        assert_delivered_mp4(engine, await finished(engine, edit.ref), 3, portrait=True)
        sim = engine.sim.simulator
        assert {t.callback_url for t in sim.tasks.values()} == {"https://bot.example/cb/fal"}
        assert sim.stats.uploads == 0 and sim.stats.responses_401 == 0  # `Key` auth accepted


async def test_a_refused_prompt_fails_with_the_gateways_reason(
    tmp_path: Path, clock: FakeClock
) -> None:
    ended = await refused_prompt("fal", tmp_path, clock, "nsfw things")
    assert (ended.state, ended.error_code) == (TaskState.FAILED, "content_policy_violation")
    assert ended.error_message == POLICY_REASON


async def test_a_render_failure_ends_the_task_with_its_reason(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with gateway_engine("fal", tmp_path, clock, fail_rate=1.0) as engine:
        task, _ = await engine.service.accept(
            VideoRequest("a calm lake", Mode.T2V, "16:9", 8), target(), "evt"
        )
        ended = await finished(engine, task.ref)
        assert (ended.state, ended.error_code) == (TaskState.FAILED, "internal_error")
        assert ended.error_message == "The render failed on the GPU worker."
