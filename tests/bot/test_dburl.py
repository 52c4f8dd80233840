"""A database URL's password never shows, whatever it holds: redaction finds the user
information by its last `@` instead of trusting a URL parser, and a URL the driver would
misread is refused at start, naming no secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from bot import dburl
from bot.config import Settings

SHAPES = [
    ("postgresql://videobot:s3cret@db:5432/videobot", "s3cret"),
    ("postgresql://postgres:Se#cretPW@127.0.0.1:5432/r", "Se#cretPW"),
    ("postgresql://videobot:cr@/etPW@127.0.0.1:5999/videobot", "cr@/etPW"),
    ("postgresql://u:a?b@host/db?sslmode=require", "a?b"),
    ("postgresql://u:p%40ss@host/db", "p%40ss"),
]


@pytest.mark.parametrize(("url", "secret"), SHAPES)
def test_the_password_is_hidden_whatever_it_holds(url: str, secret: str) -> None:
    shown = dburl.redacted(url)
    assert secret not in shown and "***" in shown
    assert shown.endswith(url.rsplit("@", 1)[1])  # host, port and database stay readable


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    assert dburl.redacted("postgresql://postgres@127.0.0.1/test") == (
        "postgresql://postgres@127.0.0.1/test"
    )
    assert dburl.password("postgresql://u:p%40ss@h/db") == "p@ss"  # as the driver reads it


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://postgres:Se#cretPW@127.0.0.1:5432/r", "percent-encode"),
        ("postgresql://u:SeCrEtPW@[::1", "cannot be read"),
        ("postgresql://u:SeCrEtPW@host:99999/db", "cannot be read"),
    ],
)
def test_a_url_the_driver_would_misread_is_refused_at_start_naming_no_secret(
    url: str, why: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=SecretStr(url))  # type: ignore[call-arg]
    text = str(refused.value)
    assert why in text
    assert "Se#cretPW" not in text and "SeCrEtPW" not in text
