"""Provider-sourced text and links lose every credential: the configured key in the spellings a
gateway may use, and any query value whose name says it is one; the rest stays readable."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from adapters.provider.redact import REDACTED, Redactor, ResultLinks

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
