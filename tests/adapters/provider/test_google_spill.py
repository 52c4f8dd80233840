"""The streaming JSON rewriter behind inline results: long strings leave for files (decoded from
base64 as they stream), short ones stay byte for byte, however the answer is cut into chunks."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.provider.inline import InlineResults
from adapters.provider.spill import MARKER, JsonSpill
from bot.errors import ProviderError, ResultExpired
from bot.ports import ProviderState, ProviderStatus

VIDEO = b"\x00\x00\x00\x18ftypisom" + os.urandom(50_000)


def rewrite(
    text: bytes, tmp: Path, chunk: int, threshold: int = 1024, cap: int = 1 << 30
) -> tuple[Any, JsonSpill]:
    spill = JsonSpill(tmp, threshold=threshold, cap=cap)
    kept = b"".join(spill.feed(text[i : i + chunk]) for i in range(0, len(text), chunk))
    return json.loads(kept + spill.finish()), spill


def answer(data: str) -> bytes:
    body = {
        "id": "v1_abc",
        "status": "completed",
        "steps": [
            {
                "type": "model_output",
                "content": [{"type": "video", "mime_type": "video/mp4", "data": data}],
            }
        ],
        "note": 'a "quoted" \\ word \u00e9',
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000, 65536, 10**7])
def test_a_long_base64_string_becomes_a_file_and_a_marker(tmp_path: Path, chunk: int) -> None:
    parsed, spill = rewrite(answer(base64.b64encode(VIDEO).decode()), tmp_path, chunk)
    data = parsed["steps"][0]["content"][0]["data"]
    assert data.startswith(MARKER)
    assert parsed["note"] == 'a "quoted" \\ word \u00e9'  # short strings kept exactly
    [spilled] = spill.spilled
    assert spilled.marker == data and spilled.valid and not spilled.truncated
    assert spilled.path.read_bytes() == VIDEO and spilled.size == len(VIDEO)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda b: base64.b64encode(b).decode().replace("/", "\\/"),  # escaped solidus
        lambda b: base64.encodebytes(b).decode().replace("\n", "\\n"),  # MIME line breaks
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),  # URL-safe, unpadded
    ],
    ids=["escaped-slash", "line-breaks", "urlsafe"],
)
@pytest.mark.parametrize("chunk", [1, 2, 4093])
def test_every_base64_spelling_decodes(tmp_path: Path, spelling: Any, chunk: int) -> None:
    text = (
        json.dumps({"data": "X"}).encode().replace(b'"X"', b'"' + spelling(VIDEO).encode() + b'"')
    )
    parsed, spill = rewrite(text, tmp_path, chunk)
    assert parsed["data"] == spill.spilled[0].marker
    assert spill.spilled[0].valid
    assert spill.spilled[0].path.read_bytes() == VIDEO


def test_a_long_string_that_is_not_base64_is_marked_invalid(tmp_path: Path) -> None:
    parsed, spill = rewrite(json.dumps({"text": "no video here! " * 500}).encode(), tmp_path, 999)
    assert parsed["text"].startswith(MARKER)
    assert not spill.spilled[0].valid


def test_an_escaped_quote_split_across_chunks_does_not_end_the_string(tmp_path: Path) -> None:
    long = "x" * 2000 + '"' + "y" * 10
    text = json.dumps({"a": long, "b": 1}).encode()
    split = text.index(b'\\"') + 1  # the backslash ends one chunk, the quote starts the next
    spill = JsonSpill(tmp_path, threshold=1024, cap=1 << 20)
    kept = spill.feed(text[:split]) + spill.feed(text[split:]) + spill.finish()
    parsed = json.loads(kept)
    assert parsed["b"] == 1 and parsed["a"].startswith(MARKER)


def test_a_video_over_the_cap_is_marked_truncated_and_not_kept_whole(tmp_path: Path) -> None:
    _, spill = rewrite(answer(base64.b64encode(VIDEO).decode()), tmp_path, 4096, cap=10_000)
    [spilled] = spill.spilled
    assert spilled.truncated and spilled.path.stat().st_size <= 10_000


def test_discard_deletes_every_file_even_one_cut_off_mid_string(tmp_path: Path) -> None:
    text = answer(base64.b64encode(VIDEO).decode())
    spill = JsonSpill(tmp_path, threshold=1024, cap=1 << 30)
    spill.feed(text[: len(text) // 2])  # the connection broke mid-video
    assert list(tmp_path.iterdir())
    spill.discard()
    assert list(tmp_path.iterdir()) == []


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(value=_json_values, chunk=st.integers(min_value=1, max_value=64), ascii_only=st.booleans())
def test_answers_without_long_strings_pass_unchanged(
    tmp_path_factory: pytest.TempPathFactory, value: Any, chunk: int, ascii_only: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    parsed, spill = rewrite(text, tmp_path_factory.mktemp("s"), chunk, threshold=10_000)
    assert parsed == value and spill.spilled == []


# -- the registry: what the client holds between a poll and a download ------------------------


async def test_the_claimed_video_is_kept_and_moved_the_rest_deleted(tmp_path: Path) -> None:
    results = InlineResults(tmp_path / "spill", cap=1 << 30, threshold=1024)
    batch = results.batch()
    first, second = batch.reader(), batch.reader()  # a failed attempt, then the answer read
    first.feed(answer(base64.b64encode(VIDEO).decode())[:5000])
    parsed = json.loads(second.feed(answer(base64.b64encode(VIDEO).decode())) + second.finish())
    marker = parsed["steps"][0]["content"][0]["data"]
    kept = await batch.settle(marker)
    assert kept is not None and [p.name for p in (tmp_path / "spill").iterdir()] == [kept.path.name]
    dest = tmp_path / "out.mp4"
    assert await results.take(marker, dest, max_bytes=1 << 30) == len(VIDEO)
    assert dest.read_bytes() == VIDEO and list((tmp_path / "spill").iterdir()) == []
    with pytest.raises(ResultExpired):  # taken once; a restart forgets them all the same way
        await results.take(marker, tmp_path / "again.mp4", max_bytes=1 << 30)
    await results.aclose()


async def test_a_video_bigger_than_the_download_cap_is_refused_as_too_large(tmp_path: Path) -> None:
    results = InlineResults(tmp_path, cap=1 << 30, threshold=1024)
    status = await results.resolved(
        ProviderStatus(
            ProviderState.SUCCEEDED,
            video_url="data:video/mp4;base64," + base64.b64encode(VIDEO).decode(),
        )
    )
    assert status.video_url is not None and status.video_url.startswith(MARKER)
    with pytest.raises(ProviderError) as refused:
        await results.take(status.video_url, tmp_path / "out.mp4", max_bytes=1000)
    assert refused.value.code == "too_large"
    await results.aclose()


@pytest.mark.parametrize(
    "url", ["data:video/mp4;base64,not base64!", "data:video/mp4,plain", MARKER + "forged"]
)
async def test_an_inline_video_that_cannot_be_read_is_a_failed_render(
    tmp_path: Path, url: str
) -> None:
    results = InlineResults(tmp_path, cap=1 << 20)
    status = await results.resolved(ProviderStatus(ProviderState.SUCCEEDED, video_url=url))
    assert status.state is ProviderState.FAILED and status.error_code == "bad_inline"
    assert status.video_url is None
    await results.aclose()
