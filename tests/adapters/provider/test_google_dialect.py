"""The Google and Vertex AI dialects as pure mappings: our request to an interaction body, and
Google's recorded answer shapes (tests/payloads/google_*.json) to canonical statuses and errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.provider.answer import AnswerReader
from adapters.provider.dialects import DIALECTS
from adapters.provider.dialects.base import SubmitContext
from adapters.provider.dialects.google import GoogleDialect, file_uri
from adapters.provider.dialects.interaction import Interaction
from adapters.provider.dialects.vertex import VertexDialect
from adapters.provider.files import UploadedFile
from adapters.provider.redact import Redactor
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import (
    ProviderForbidden,
    ProviderRejected,
    RateLimited,
    TaskNotFound,
)
from bot.ports import ProviderState, ProviderStatus
from bot.pricing import Usage
from tests.paths import PAYLOADS

GOOGLE = GoogleDialect()
VERTEX = VertexDialect("my-project", "us-central1")
ID = "v1_ChdVaTBOYWFHRE1xbWp4czBQM3JxVmdBRRIXVWkwTmFhR0RNcW1qeHMwUDNycVZnQUU"
FILE = "https://generativelanguage.googleapis.com/v1beta/files/q3xfj2c0o9ye"


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"google_{name}.json").read_text())


def image(url: str = "inline:aaa", size: int = 1000) -> MediaRef:
    return MediaRef("image", "/tmp/a.png", "aaa", "image/png", size, "a.png", url)


def clip(url: str = FILE) -> MediaRef:
    return MediaRef("video", "/tmp/c.mp4", "ccc", "video/mp4", 10, "c.mp4", url)


CTX = SubmitContext("gemini-omni-1.1-flash", "1080p", inline={"inline:aaa": "iVBORw0KGgo="})


# -- submit bodies --------------------------------------------------------------------------


def test_text_to_video_sends_the_prompt_as_plain_input() -> None:
    request = VideoRequest("a fox in snow", Mode.T2V, "9:16", 10)
    assert GOOGLE.submit_body(request, CTX) == {
        "model": "gemini-omni-1.1-flash",
        "background": True,
        "store": True,
        "input": "a fox in snow",
        "generation_config": {"video_config": {"task": "text_to_video"}},
        "response_format": {
            "type": "video",
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "duration": "10s",
            "delivery": "uri",
        },
    }


@pytest.mark.parametrize(
    ("request_", "task", "parts"),
    [
        (
            VideoRequest("wave", Mode.I2V, "16:9", 8, images=(image(),)),
            "image_to_video",
            [{"type": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png"}],
        ),
        (
            VideoRequest("a duo", Mode.R2V, "16:9", 6, images=(image(), image(FILE))),
            "reference_to_video",
            [
                {"type": "image", "data": "iVBORw0KGgo=", "mime_type": "image/png"},
                {"type": "image", "uri": FILE, "mime_type": "image/png"},
            ],
        ),
    ],
)
def test_media_go_before_the_prompt_inline_or_by_file_uri(
    request_: VideoRequest, task: str, parts: list[dict[str, str]]
) -> None:
    body = GOOGLE.submit_body(request_, CTX)
    assert body["input"] == [*parts, {"type": "text", "text": request_.prompt}]
    assert body["generation_config"]["video_config"]["task"] == task
    assert body["response_format"]["duration"] == f"{request_.duration}s"  # a unit, always


def test_an_edit_sends_its_clip_and_neither_duration_nor_ratio() -> None:
    body = GOOGLE.submit_body(VideoRequest("watercolour", Mode.EDIT, "16:9", 8, video=clip()), CTX)
    assert body["input"][0] == {"type": "video", "uri": FILE, "mime_type": "video/mp4"}
    assert body["generation_config"]["video_config"]["task"] == "edit"
    assert "duration" not in body["response_format"]
    assert "aspect_ratio" not in body["response_format"]


def test_editing_a_previous_result_continues_the_interaction_without_its_clip() -> None:
    result = clip(f"{FILE}:download?alt=media")
    request = VideoRequest("make it night", Mode.EDIT, "9:16", 6, video=result, previous=ID)
    body = GOOGLE.submit_body(request, CTX)
    assert body["previous_interaction_id"] == ID
    assert body["input"] == "make it night"  # nothing re-uploaded, nothing re-sent
    assert body["generation_config"]["video_config"]["task"] == "edit"
    assert "duration" not in body["response_format"]


def test_callbacks_are_asked_for_only_when_configured() -> None:
    request = VideoRequest("p", Mode.T2V, "16:9", 8)
    assert "webhook_config" not in GOOGLE.submit_body(request, CTX)
    ctx = SubmitContext("m", callback_url="https://bot.example/callbacks/google")
    body = GOOGLE.submit_body(request, ctx)
    assert body["webhook_config"] == {"uris": ["https://bot.example/callbacks/google"]}


def test_vertex_asks_for_inline_results_under_its_project() -> None:
    request = VideoRequest("p", Mode.T2V, "16:9", 8)
    assert "delivery" not in VERTEX.submit_body(request, CTX)["response_format"]
    assert VERTEX.submit_path(request, CTX) == (
        "/v1beta1/projects/my-project/locations/us-central1/interactions"
    )


def test_media_too_large_for_one_request_are_refused_before_sending() -> None:
    big = {"inline:aaa": "A" * 21_000_000}
    request = VideoRequest("p", Mode.I2V, "16:9", 8, images=(image(),))
    with pytest.raises(ProviderRejected, match="20 MB"):
        GOOGLE.submit_body(request, SubmitContext("m", inline=big))


def test_a_clip_held_only_in_a_dead_process_cannot_be_edited() -> None:
    request = VideoRequest("p", Mode.EDIT, "16:9", 8, video=clip("videobot-spill:0123"))
    with pytest.raises(ProviderRejected) as refused:
        GOOGLE.submit_body(request, CTX)
    assert refused.value.code == "clip_gone"


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        (f"{FILE}:download?alt=media", FILE),
        (FILE, FILE),
        ("https://storage.example/v.mp4?sig=1", "https://storage.example/v.mp4?sig=1"),
    ],
)
def test_a_result_link_names_its_file(url: str, uri: str) -> None:
    assert file_uri(url) == uri


# -- answers ----------------------------------------------------------------------------------


def test_the_submit_answer_names_the_interaction() -> None:
    assert GOOGLE.parse_submit(payload("create")) == ID
    for bad in ({"status": "in_progress"}, {"id": ""}, [], "ok"):
        with pytest.raises(ValueError):
            GOOGLE.parse_submit(bad)


# What Google reports billing for 8 s of 720p: 5,792 output video tokens a second.
BILLED_8S = Usage(video_tokens=46336, billed=True)
UNKNOWN_PEOPLE = (
    "I can't create videos that depict real, identifiable people. "
    "Try describing an original character instead."
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("queued", ProviderStatus(ProviderState.QUEUED)),
        ("in_progress", ProviderStatus(ProviderState.RUNNING)),
        (
            "completed_uri",
            ProviderStatus(
                ProviderState.SUCCEEDED,
                video_url=f"{FILE[:-12]}8p2x0ab3kd1q:download?alt=media",
                usage=BILLED_8S,
            ),
        ),
        (
            "completed_inline",
            ProviderStatus(
                ProviderState.SUCCEEDED,
                video_url="data:video/mp4;base64,AAAAHGZ0eXBpc29tAAACAGlzb21pc28ybXA0MQAAAAhmcmVl",
                usage=BILLED_8S,
            ),
        ),
        (
            "completed_text_only",
            ProviderStatus(
                ProviderState.FAILED, error_code="no_video", error_message=UNKNOWN_PEOPLE
            ),
        ),
        (
            "failed",
            ProviderStatus(
                ProviderState.FAILED,
                error_code="internal",
                error_message="An internal error occurred while generating the video.",
            ),
        ),
        ("cancelled", ProviderStatus(ProviderState.CANCELLED)),
    ],
)
def test_recorded_answers_map_to_canonical_statuses(name: str, expected: ProviderStatus) -> None:
    assert GOOGLE.parse_status(payload(name)) == expected
    assert VERTEX.parse_status(payload(name)) == expected


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("budget_exceeded", "budget is used up"),
        ("incomplete", "incomplete"),
        ("requires_action", "an action videobot cannot take"),
    ],
)
def test_the_other_ends_are_failures_with_plain_reasons(name: str, words: str) -> None:
    status = GOOGLE.parse_status(payload(name))
    assert status.state is ProviderState.FAILED and status.error_code == name
    assert words in (status.error_message or "")


def test_a_submit_refused_for_rate_on_its_first_poll_says_so() -> None:
    status = GOOGLE.parse_status(payload("failed_rate_capped"))
    assert status.state is ProviderState.FAILED and status.error_code == "too_many_requests"
    assert "too many requests" in (status.error_message or "")


def test_usage_is_read_in_video_tokens() -> None:
    usage = Interaction.model_validate(payload("completed_uri")).usage
    assert usage is not None and usage.video_tokens == 46336


@given(
    status=st.text(max_size=16),
    steps=st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["model_output", "thought", "x"]),
                "content": st.lists(
                    st.dictionaries(
                        st.sampled_from(["type", "text", "data", "uri", "mime_type"]),
                        st.none() | st.text(max_size=8) | st.integers(),
                    ),
                    max_size=3,
                ),
            }
        ),
        max_size=3,
    ),
    errors=st.lists(
        st.none() | st.text(max_size=5) | st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
        max_size=2,
    ),
)
def test_any_interaction_answer_maps_or_raises_value_error_only(
    status: str, steps: list[Any], errors: list[Any]
) -> None:
    try:
        parsed = GOOGLE.parse_status({"status": status, "steps": steps, "errors": errors})
    except ValueError:
        return
    assert parsed.progress is None  # Google never says how far along a render is
    assert parsed.state is not ProviderState.SUCCEEDED or parsed.video_url


# -- HTTP errors, in both of Google's bodies --------------------------------------------------


def error_for(status: int, name: str) -> Exception:
    response = httpx.Response(status, json=payload(name))
    return AnswerReader(Redactor("AIza-test-key")).error(response)


def test_an_unknown_interaction_reads_as_not_found_not_as_a_refusal() -> None:
    err = error_for(400, "error_invalid_interaction")
    assert isinstance(err, TaskNotFound) and err.code == "INVALID_ARGUMENT"


def test_the_older_list_shaped_body_is_read() -> None:
    err = error_for(403, "error_permission_old")
    assert isinstance(err, ProviderForbidden) and err.code == "PERMISSION_DENIED"
    assert "unregistered callers" in str(err)


def test_the_current_body_is_read() -> None:
    err = error_for(400, "error_invalid_request")
    assert isinstance(err, ProviderRejected) and err.code == "invalid_request"
    assert '"8s"' in str(err)
    limited = error_for(429, "error_rate_limited")
    assert isinstance(limited, RateLimited) and limited.code == "rate_limit_exceeded"


# -- paths, files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "provider_task_id", "path"),
    [
        ("google", ID, f"/v1beta/interactions/{ID}"),
        ("google", "a/../b", "/v1beta/interactions/a%2F..%2Fb"),
        ("vertex", "v1_x", "/v1beta1/projects/my-project/locations/us-central1/interactions/v1_x"),
        (
            "vertex",
            "projects/p/locations/global/interactions/v1_x",
            "/v1beta1/projects/p/locations/global/interactions/v1_x",
        ),
    ],
)
def test_poll_paths(dialect: str, provider_task_id: str, path: str) -> None:
    chosen = GOOGLE if dialect == "google" else VERTEX
    assert chosen.poll_path(provider_task_id) == path


def test_vertex_without_a_project_is_a_plain_configuration_error() -> None:
    with pytest.raises(ProviderRejected, match="VIDEOBOT_VERTEX_PROJECT"):
        DIALECTS["vertex"].poll_path("v1_x")


@pytest.mark.parametrize(
    ("name", "state"),
    [("file_uploaded", "PROCESSING"), ("file_active", "ACTIVE"), ("file_failed", "FAILED")],
)
def test_files_api_answers_are_read_wrapped_or_not(name: str, state: str) -> None:
    file = UploadedFile.read(payload(name))
    assert file.name == "files/q3xfj2c0o9ye" and file.state == state and file.uri == FILE
    assert file.mime_type == "video/mp4"
