"""How requests to the video API prove who sends them: the auth header each provider expects
(`Authorization: Bearer`, Google's `x-goog-api-key`, fal's `Authorization: Key`), or a token
that changes (Vertex AI's OAuth access token), behind one small interface."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

SCHEMES = ("bearer", "x-goog-api-key", "key", "oauth")


class Credentials(Protocol):
    async def headers(self) -> Mapping[str, str]:
        """The headers to send with the next request (a token refreshed first if due)."""
        ...

    def secrets(self) -> list[str]:
        """Every secret these headers have carried, for the redactor."""
        ...


class StaticKey:
    """An API key sent the same way with every request."""

    def __init__(self, key: str, scheme: str = "bearer") -> None:
        if scheme not in SCHEMES or scheme == "oauth":
            raise ValueError(f"an API key is sent as one of {SCHEMES[:3]}, not {scheme!r}")
        self._key = key
        self._headers = _header(scheme, key)

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    def secrets(self) -> list[str]:
        return [self._key]


def _header(scheme: str, key: str) -> dict[str, str]:
    if scheme == "x-goog-api-key":
        return {"x-goog-api-key": key}
    if scheme == "key":
        return {"Authorization": f"Key {key}"}
    return {"Authorization": f"Bearer {key}"}
