"""The dialect mappings as pure functions: request -> submit body, recorded poll payloads
(tests/payloads/upstream/) -> canonical ProviderStatus, state names, progress and times."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.provider.dialects import DIALECTS
from adapters.provider.dialects.base import SubmitContext, parse_time, read_progress, read_state
from bot.domain import MediaRef, Mode, VideoRequest
from bot.ports import ProviderState, ProviderStatus
from tests.paths import PAYLOADS

PAYLOADS = PAYLOADS / "upstream"
GUIDE, TOAPIS = DIALECTS["guide"], DIALECTS["toapis"]


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def image(url: str | None = "https://u.example/a.png") -> MediaRef:
    return MediaRef("image", "/tmp/a.png", "sha", "image/png", 10, "a.png", url)


def clip(url: str | None = "https://u.example/c.mp4") -> MediaRef:
    return MediaRef("video", "/tmp/c.mp4", "sha", "video/mp4", 10, "c.mp4", url)


T2V = VideoRequest("a fox in snow", Mode.T2V, "9:16", 10)


# -- submit bodies --------------------------------------------------------------------------


def test_guide_body_nests_input_and_names_the_mode() -> None:
    assert GUIDE.submit_body(T2V, SubmitContext("gemini_omni_flash")) == {
        "model": "gemini_omni_flash",
        "mode": "text-to-video",
        "input": {
            "prompt": "a fox in snow",
            "duration": 10,
            "aspect_ratio": "9:16",
            "resolution": "720P",
        },
    }


def test_toapis_body_is_flat() -> None:
    assert TOAPIS.submit_body(T2V, SubmitContext("gemini_omni_flash")) == {
        "model": "gemini_omni_flash",
        "prompt": "a fox in snow",
        "duration": 10,
        "aspect_ratio": "9:16",
        "resolution": "720P",
    }


@pytest.mark.parametrize(
    ("request_", "mode", "images", "video"),
    [
        (VideoRequest("p", Mode.I2V, "16:9", 6, images=(image(),)), "image-to-video", 1, False),
        (
            VideoRequest("p", Mode.R2V, "16:9", 6, images=(image(), image("https://u/b"))),
            "r2v",
            2,
            False,
        ),
        (VideoRequest("p", Mode.EDIT, "16:9", 6, video=clip()), "video-edit", 0, True),
    ],
)
def test_media_modes_in_both_dialects(
    request_: VideoRequest, mode: str, images: int, video: bool
) -> None:
    guide = GUIDE.submit_body(request_, SubmitContext("m"))
    flat = TOAPIS.submit_body(request_, SubmitContext("m"))
    assert guide["mode"] == mode
    for fields in (guide["input"], flat):
        assert len(fields.get("image_urls", [])) == images
        assert ("video_url" in fields) is video
    assert "mode" not in flat  # toapis infers it from the media


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_media_without_urls_cannot_be_submitted(dialect: str) -> None:
    unstaged = VideoRequest("p", Mode.I2V, "16:9", 6, images=(image(url=None),))
    with pytest.raises(ValueError, match="staged"):
        DIALECTS[dialect].submit_body(unstaged, SubmitContext("m"))
    with pytest.raises(ValueError, match="staged"):
        DIALECTS[dialect].submit_body(
            VideoRequest("p", Mode.EDIT, "16:9", 6, video=clip(url=None)), SubmitContext("m")
        )


# -- submit answers -------------------------------------------------------------------------


def test_submit_answers_give_the_provider_task_id() -> None:
    assert GUIDE.parse_submit(payload("guide_submit")) == "task_01HV8Z6Q2M"
    assert TOAPIS.parse_submit(payload("toapis_submit")) == "video_6f1c2a9e"
    assert TOAPIS.parse_submit({"id": 12345}) == "12345"  # a numeric id is still an id


@pytest.mark.parametrize(
    ("dialect", "answer"),
    [
        ("guide", {"id": "x"}),
        ("guide", {"task_id": ""}),
        ("guide", []),
        ("toapis", {"task_id": "x"}),
        ("toapis", {"id": None}),
        ("toapis", "ok"),
    ],
)
def test_a_submit_answer_without_an_id_is_a_value_error(dialect: str, answer: Any) -> None:
    # The provider then raises SubmitAmbiguous: the task may exist, we cannot name it.
    with pytest.raises(ValueError):
        DIALECTS[dialect].parse_submit(answer)


# -- recorded poll payloads -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "name", "expected"),
    [
        ("guide", "guide_queued", ProviderStatus(ProviderState.QUEUED, 0)),
        ("guide", "guide_running", ProviderStatus(ProviderState.RUNNING, 37)),
        (
            "guide",
            "guide_completed",
            ProviderStatus(
                ProviderState.SUCCEEDED,
                100,
                "https://cdn.gateway.example/v/task_01HV8Z6Q2M.mp4?sig=abc",
                datetime(2026, 4, 16, 0, 1, 10, tzinfo=UTC),
            ),
        ),
        (
            "guide",
            "guide_failed",
            ProviderStatus(
                ProviderState.FAILED,
                50,
                error_code="content_policy_violation",
                error_message="The prompt was flagged by the content safety system.",
            ),
        ),
        ("toapis", "toapis_in_progress", ProviderStatus(ProviderState.RUNNING, 42)),
        (
            "toapis",
            "toapis_completed",
            ProviderStatus(
                ProviderState.SUCCEEDED,
                100,
                "https://files.gateway.example/video_6f1c2a9e.mp4",
                datetime.fromtimestamp(1776297670, UTC),
            ),
        ),
        (
            "toapis",
            "toapis_failed",
            ProviderStatus(
                ProviderState.FAILED, 0, error_code="500", error_message="Upstream render error"
            ),
        ),
        (
            "toapis",
            "toapis_failed_plain",
            ProviderStatus(
                ProviderState.FAILED,
                None,
                error_message="quota_exceeded: the account has no credits left",
            ),
        ),
    ],
)
def test_recorded_payloads_map_to_canonical_statuses(
    dialect: str, name: str, expected: ProviderStatus
) -> None:
    assert DIALECTS[dialect].parse_status(payload(name)) == expected


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_a_status_without_a_state_is_a_value_error(dialect: str) -> None:
    with pytest.raises(ValueError):
        DIALECTS[dialect].parse_status({"progress": 10})


@pytest.mark.parametrize(
    ("result", "url"),
    [
        ("https://x/v.mp4", "https://x/v.mp4"),
        ({"url": "https://x/v.mp4"}, "https://x/v.mp4"),
        ({"video_url": "https://x/v.mp4"}, "https://x/v.mp4"),
        (["https://x/v.mp4", "https://x/w.mp4"], "https://x/v.mp4"),
        ([{"url": "https://x/v.mp4"}], "https://x/v.mp4"),
        ([], None),
        ([42], None),
        ({"size": 3}, None),
        ("", None),
        (None, None),
    ],
)
def test_toapis_result_shapes(result: Any, url: str | None) -> None:
    status = TOAPIS.parse_status({"status": "completed", "result": result})
    assert status.video_url == url


# -- state names, progress, times -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("queued", ProviderState.QUEUED),
        ("pending", ProviderState.QUEUED),
        ("submitted", ProviderState.QUEUED),
        ("in_progress", ProviderState.RUNNING),
        ("processing", ProviderState.RUNNING),
        ("running", ProviderState.RUNNING),
        ("completed", ProviderState.SUCCEEDED),
        ("SUCCEEDED", ProviderState.SUCCEEDED),
        (" success ", ProviderState.SUCCEEDED),
        ("failed", ProviderState.FAILED),
        ("error", ProviderState.FAILED),
        ("cancelled", ProviderState.CANCELLED),
        ("canceled", ProviderState.CANCELLED),
        ("expired", ProviderState.EXPIRED),
        ("warming_up", ProviderState.UNKNOWN),  # unknown: not "running"; the worker decides
    ],
)
def test_state_names(raw: str, state: ProviderState) -> None:
    assert read_state(raw) is state


@pytest.mark.parametrize(
    ("raw", "percent"),
    [
        (0, 0),
        (37, 37),
        (100, 100),
        (0.42, 42),
        (0.005, 0),
        (1, 1),  # an integer 1 is 1 %, not "done"
        ("55", 55),
        ("55%", 55),
        (150, 100),
        (-3, 0),
        (None, None),
        ("soon", None),
        ("nan", None),
        (float("inf"), None),
        (True, None),
        ([50], None),
    ],
)
def test_progress_is_normalised_to_0_100_or_unknown(raw: Any, percent: int | None) -> None:
    assert read_progress(raw) == percent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-04-15T00:00:00.000Z", datetime(2026, 4, 15, tzinfo=UTC)),
        ("2026-04-15T02:00:00+02:00", datetime(2026, 4, 15, tzinfo=UTC)),
        ("2026-04-15T00:00:00", datetime(2026, 4, 15, tzinfo=UTC)),  # naive means UTC
        (1776211200, datetime(2026, 4, 15, tzinfo=UTC)),
        (1776211200.0, datetime(2026, 4, 15, tzinfo=UTC)),
        ("1776211200", datetime(2026, 4, 15, tzinfo=UTC)),
        (1776211200000, datetime(2026, 4, 15, tzinfo=UTC)),  # milliseconds
        (None, None),
        ("", None),
        ("tomorrow", None),
        (float("nan"), None),
        (1e30, None),
        (-5, None),
        (True, None),
    ],
)
def test_parse_time(raw: Any, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    status=st.text(max_size=12),
    progress=_json,
    result=_json,
    expires=_json,
    error=_json,
    dialect=st.sampled_from(["guide", "toapis"]),
)
def test_any_status_payload_maps_or_raises_value_error_only(  # noqa: PLR0917
    status: str, progress: Any, result: Any, expires: Any, error: Any, dialect: str
) -> None:
    """Whatever a gateway sends, parsing never crashes the worker with an unexpected error."""
    data = {
        "status": status,
        "progress": progress,
        "result": result,
        "video_url": result,
        "expires_at": expires,
        "error": error,
    }
    try:
        parsed = DIALECTS[dialect].parse_status(data)
    except ValueError:
        return
    assert parsed.progress is None or 0 <= parsed.progress <= 100
    assert parsed.video_url is None or isinstance(parsed.video_url, str)
    assert parsed.expires_at is None or parsed.expires_at.tzinfo is not None


# -- statuses no dialect knows --------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_an_unknown_status_with_an_error_object_is_a_failure(dialect: str) -> None:
    data = {"status": "aborted", "error": {"code": "blocked", "message": "It was blocked."}}
    status = DIALECTS[dialect].parse_status(data)
    assert status == ProviderStatus(
        ProviderState.FAILED, error_code="blocked", error_message="It was blocked."
    )


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_an_unknown_status_with_a_result_url_is_a_success(dialect: str) -> None:
    url = "https://cdn.example/v.mp4"
    status = DIALECTS[dialect].parse_status(
        {"status": "finalised", "video_url": url, "result": url}
    )
    assert status.state is ProviderState.SUCCEEDED and status.video_url == url


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_an_unknown_status_alone_keeps_the_providers_word(dialect: str) -> None:
    status = DIALECTS[dialect].parse_status({"status": "Warming_Up", "progress": 5})
    assert status == ProviderStatus(ProviderState.UNKNOWN, 5, raw_state="Warming_Up")
    known = DIALECTS[dialect].parse_status({"status": "running"})
    assert known.raw_state is None


# -- task ids in the poll path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_task_id", "path"),
    [
        ("task_01HV8Z", "/v1/videos/generations/task_01HV8Z"),
        ("gen/2026/abc", "/v1/videos/generations/gen%2F2026%2Fabc"),
        ("a?b=1#c", "/v1/videos/generations/a%3Fb%3D1%23c"),
        ("line\nbreak\x00", "/v1/videos/generations/line%0Abreak%00"),
        ("a b%2F", "/v1/videos/generations/a%20b%252F"),
        ("..", "/v1/videos/generations/%2E%2E"),
        (".", "/v1/videos/generations/%2E"),
        ("v1.2", "/v1/videos/generations/v1.2"),
    ],
)
@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_poll_paths_encode_the_task_id_as_one_segment(
    dialect: str, provider_task_id: str, path: str
) -> None:
    assert DIALECTS[dialect].poll_path(provider_task_id) == path


@pytest.mark.parametrize("dialect", ["guide", "toapis"])
def test_a_callback_url_is_sent_only_when_callbacks_are_on(dialect: str) -> None:
    plain = DIALECTS[dialect].submit_body(T2V, SubmitContext("m"))
    assert "callback_url" not in plain  # real gateways of these dialects never see the field
    url = "https://bot.example/callbacks/guide"
    hooked = DIALECTS[dialect].submit_body(T2V, SubmitContext("m", callback_url=url))
    assert hooked["callback_url"] == url
