"""Provider-sourced text and links lose every credential: the configured key in the spellings a
gateway may use, and any query value whose name says it is one; the rest stays readable."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.provider.redact import MAX_TEXT, REDACTED, Redactor, ResultLinks
from bot.domain import MediaRef, Mode, VideoRequest

KEY = "sk-live/odd+key=value&0123"


@pytest.mark.parametrize(
    "spelling",
    [
        KEY,
        quote(KEY, safe=""),
        quote(KEY, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
        KEY.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D").replace("&", "%26"),
        base64.b64encode(KEY.encode()).decode(),
    ],
)
def test_the_key_is_cut_from_text_in_every_spelling(spelling: str) -> None:
    cleaned = Redactor(KEY).text(f"refused key {spelling}; try again")
    assert "live/odd" not in cleaned and "live%2" not in cleaned.lower()
    assert cleaned.startswith("refused key [redacted]") and cleaned.endswith("; try again")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://cdn.example/v/abc.mp4?api_key=xyz&expires=99",
            "https://cdn.example/v/abc.mp4?api_key=[redacted]&expires=99",
        ),
        (
            "https://s3.example/o.mp4?X-Amz-Credential=AK%2F1&X-Amz-Signature=beef&X-Amz-Date=1",
            "https://s3.example/o.mp4?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]"
            "&X-Amz-Date=1",
        ),
        (
            "https://u:pw@cdn.example/a.mp4?sig=1&token=2",
            "https://[redacted]@cdn.example/a.mp4?sig=[redacted]&token=[redacted]",
        ),
        (
            f"https://cdn.example/a.mp4?x={quote(KEY, safe='')}",
            "https://cdn.example/a.mp4?x=[redacted]",
        ),
        ("https://cdn.example/plain.mp4?size=720", "https://cdn.example/plain.mp4?size=720"),
    ],
)
def test_credentials_are_cut_from_links_and_the_rest_kept(url: str, expected: str) -> None:
    assert Redactor(KEY).url(url) == expected
    assert Redactor(KEY).text(f"see {url} now") == f"see {expected} now"


def test_a_link_with_a_credential_is_revealed_only_to_the_process_that_saw_it() -> None:
    real = "https://cdn.example/a.mp4?token=t0ps3cret"
    links = ResultLinks(Redactor(KEY))
    shown = links.hide(real)
    assert "t0ps3cret" not in shown and REDACTED in shown
    assert links.reveal(shown) == real
    assert links.reveal("https://cdn.example/plain.mp4") == "https://cdn.example/plain.mp4"
    assert ResultLinks(Redactor(KEY)).reveal(shown) is None  # after a restart: poll afresh


async def test_a_staged_link_carrying_the_key_is_kept_out_of_the_task_but_sent_to_the_provider(
    tmp_path: Path,
) -> None:
    """The gateway's upload endpoint hands back a link with the key in its query. The task
    (and so the ledger) keeps the redacted link; the submit sends the real one; a fresh process
    that never saw it stages the image again rather than sending a dead link."""
    key = "sk-stage-key-0123456789"
    uploads: list[int] = []
    sent: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/uploads/images":
            uploads.append(1)
            link = f"https://files.gw.example/u/{len(uploads)}.png?api_key={key}"
            return httpx.Response(200, json={"url": link})
        sent.append(json.loads(request.content)["input"]["image_urls"])
        return httpx.Response(200, json={"task_id": f"task_{len(sent)}", "status": "queued"})

    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    media = MediaRef("image", str(image), "sha", "image/png", 8, "cat.png")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        first = HttpProvider(
            client, DIALECTS["guide"], base_url="https://gw.example", api_key=key, model="m"
        )
        staged = await first.stage(media)
        assert key not in staged and "[redacted]" in staged
        request = VideoRequest("the cat", Mode.I2V, "16:9", 6, images=(replace(media, url=staged),))
        assert await first.submit(request, "t-1") == "task_1"
        restarted = HttpProvider(
            client, DIALECTS["guide"], base_url="https://gw.example", api_key=key, model="m"
        )
        assert await restarted.submit(request, "t-1") == "task_2"
    assert sent == [
        [f"https://files.gw.example/u/1.png?api_key={key}"],
        [f"https://files.gw.example/u/2.png?api_key={key}"],
    ]
    assert len(uploads) == 2


def test_a_huge_message_is_cut_before_it_is_scanned_and_a_key_at_the_cut_never_shows() -> None:
    text = "x" * (MAX_TEXT - 5) + KEY + "y" * 100_000
    cleaned = Redactor(KEY).text(text)
    assert len(cleaned) <= MAX_TEXT + 1 and cleaned.endswith("…")
    assert KEY[:5] in cleaned  # a fragment at the cut is not the key
    assert KEY not in cleaned
