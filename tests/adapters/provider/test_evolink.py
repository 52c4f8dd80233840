"""The evolink dialect: one model id per mode, images as data: URLs, callback_url, its published
answers (tests/payloads/upstream/evolink_*) and error body, and every mode end to end against the
simulator speaking evolink, including the refusal of a clip it cannot take."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.provider.answer import AnswerReader
from adapters.provider.dialects import DIALECTS
from adapters.provider.dialects.base import SubmitContext
from adapters.provider.dialects.evolink import CLIP_REFUSED, model_for
from adapters.provider.redact import Redactor
from bot.domain import MediaRef, Mode, TaskState, VideoRequest
from bot.errors import CommandError, ProviderRejected
from bot.ledger import TaskQuery
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

EVOLINK = DIALECTS["evolink"]
CTX = SubmitContext("gemini-omni-flash", inline={"inline:a": "iVBOR"})
PICTURE = MediaRef("image", "/m/a.png", "a", "image/png", 9, "a.png", "inline:a")


# -- submit bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "model"),
    [
        (Mode.T2V, "gemini-omni-flash-text-to-video"),
        (Mode.I2V, "gemini-omni-flash-image-to-video"),
        (Mode.R2V, "gemini-omni-flash-reference-to-video"),
        (Mode.EDIT, "gemini-omni-flash-video-edit"),
    ],
)
def test_one_model_id_per_mode_whatever_the_setting_names(mode: Mode, model: str) -> None:
    assert model_for("gemini-omni-flash", mode) == model
    assert model_for("gemini-omni-flash-text-to-video", mode) == model
    assert model_for("gemini-omni-flash-video-edit", mode) == model


def test_images_travel_as_data_urls_with_the_shape_and_the_callback() -> None:
    ctx = SubmitContext("gemini-omni-flash", inline=CTX.inline, callback_url="https://bot/cb")
    body = EVOLINK.submit_body(VideoRequest("wave", Mode.I2V, "9:16", 3, images=(PICTURE,)), ctx)
    assert body == {
        "model": "gemini-omni-flash-image-to-video",
        "prompt": "wave",
        "image_urls": ["data:image/png;base64,iVBOR"],
        "duration": 3,
        "aspect_ratio": "9:16",
        "callback_url": "https://bot/cb",
    }
    assert "callback_url" not in EVOLINK.submit_body(VideoRequest("p", Mode.T2V, "16:9", 8), CTX)


def test_an_edit_sends_the_clip_link_and_no_shape() -> None:
    link = MediaRef("video", "", "", "video/mp4", 0, url="https://cdn.evolink.ai/v.mp4")
    body = EVOLINK.submit_body(VideoRequest("warmer", Mode.EDIT, "16:9", 8, video=link), CTX)
    assert body == {
        "model": "gemini-omni-flash-video-edit",
        "prompt": "warmer",
        "video_urls": ["https://cdn.evolink.ai/v.mp4"],
    }


# -- answers --------------------------------------------------------------------------------


def test_recorded_answers() -> None:
    assert EVOLINK.parse_submit(recorded("evolink_submit")) == "task-unified-1757169743-7cvnl5zw"
    assert EVOLINK.poll_path("task-unified-1757169743-7cvnl5zw") == (
        "/v1/tasks/task-unified-1757169743-7cvnl5zw"
    )
    assert EVOLINK.parse_status(recorded("evolink_submit")) == ProviderStatus(
        ProviderState.QUEUED, 0
    )
    assert EVOLINK.parse_status(recorded("evolink_processing")) == ProviderStatus(
        ProviderState.RUNNING, 65
    )
    assert EVOLINK.parse_status(recorded("evolink_completed")) == ProviderStatus(
        ProviderState.SUCCEEDED,
        100,
        "https://cdn.example.com/videos/task-unified-1757169743-7cvnl5zw.mp4",
    )
    failed = EVOLINK.parse_status(recorded("evolink_failed"))
    assert (failed.state, failed.error_code) == (ProviderState.FAILED, "content_policy_violation")
    assert failed.error_message == "The prompt was rejected by the content safety review."


def test_its_error_body_is_read_with_its_code() -> None:
    response = httpx.Response(400, json=recorded("evolink_error_400"))
    err = AnswerReader(Redactor("sk-x")).error(response)
    assert isinstance(err, ProviderRejected) and err.code == "invalid_task_id"
    assert str(err) == "Invalid task ID format, must start with 'task-unified-'"


# -- end to end against the simulator -------------------------------------------------------


async def test_every_mode_ends_as_a_decodable_mp4(tmp_path: Path, clock: FakeClock) -> None:
    async with gateway_engine("evolink", tmp_path, clock, "https://bot.example/cb/1") as engine:
        cat, dog = await image(tmp_path), await image(tmp_path, "dog.png", 30)
        requests = [
            VideoRequest("a fox in snow", Mode.T2V, "9:16", 10),
            VideoRequest("the cat waves", Mode.I2V, "16:9", 3, images=(cat,)),
            VideoRequest("cat meets dog", Mode.R2V, "16:9", 4, images=(cat, dog, cat)),
        ]
        tasks = [
            (await engine.service.accept(r, target(), f"e{i}"))[0] for i, r in enumerate(requests)
        ]
        for task, (seconds, portrait) in zip(
            tasks, [(10, True), (3, False), (4, False)], strict=True
        ):
            assert_delivered_mp4(engine, await finished(engine, task.ref), seconds, portrait)
        # "Edit this video": the result's link is the clip (evolink takes clips only as links).
        edit, _ = await engine.service.edit(tasks[0].ref, "add snow", target(), "e-edit")
        assert_delivered_mp4(engine, await finished(engine, edit.ref), 10, portrait=True)
        sim = engine.sim.simulator
        assert sim.stats.uploads == 0  # images went inline
        assert {t.callback_url for t in sim.tasks.values()} == {"https://bot.example/cb/1"}
        assert sorted(t.model for t in sim.tasks.values()) == [
            "gemini-omni-flash-image-to-video",
            "gemini-omni-flash-reference-to-video",
            "gemini-omni-flash-text-to-video",
            "gemini-omni-flash-video-edit",
        ]


async def test_a_users_own_clip_is_refused_before_anything_is_paid(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with gateway_engine("evolink", tmp_path, clock) as engine:
        request = VideoRequest("watercolour", Mode.EDIT, "16:9", 8, video=await clip(tmp_path))
        # Refused when the command is read: nothing recorded, nothing sent.
        with pytest.raises(CommandError, match="edits only videos I made: press “Edit this"):
            await engine.service.accept(request, target(), "evt")
        assert await engine.ledger.find(TaskQuery()) == []
        assert engine.sim.simulator.stats.tasks_created == 0
        # Should a clip reach the dialect anyway (an older row), it still refuses to send it.
        assert "Edit this video" in CLIP_REFUSED


async def test_a_refused_prompt_fails_with_the_gateways_reason(
    tmp_path: Path, clock: FakeClock
) -> None:
    ended = await refused_prompt("evolink", tmp_path, clock, "gore everywhere")
    assert (ended.state, ended.error_code) == (TaskState.FAILED, "content_policy_violation")
    assert ended.error_message == POLICY_REASON
