"""Vertex AI's credentials: a service account's JSON key traded for an OAuth access token
(google-auth signs the JWT and calls the token endpoint: blocking I/O, so in a thread), cached
until shortly before it expires. The client's redactor learns every token it hands out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from google.auth import exceptions as auth_errors
from google.auth import transport
from google.oauth2 import service_account

from bot.errors import ProviderAuthError, Unreachable

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
MARGIN = timedelta(minutes=5)  # refreshed this long before it expires, never while in use
_KEPT = 4


KEY_FILE_MAX = 64 * 1024  # a service account key is about 2.3 KB


class KeyFileError(ValueError):
    """The key file cannot be read as a service account key (the message names the file)."""


class ServiceAccountToken:
    """Implements auth.Credentials. `clock` decides when the token is due (a test's clock)."""

    def __init__(
        self,
        info: Mapping[str, Any],
        *,
        clock: Callable[[], datetime] | None = None,
        timeout: float = 30.0,
    ) -> None:
        try:
            # (google-auth leaves some of its functions unannotated: the ignores below)
            self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                dict(info), scopes=SCOPES
            )
        except (ValueError, KeyError) as err:
            raise KeyFileError(f"not a service account key ({type(err).__name__})") from None
        self.project: str | None = info.get("project_id")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._transport = HttpxTransport(timeout)
        self._lock = asyncio.Lock()
        self._token = ""
        self._due = datetime.min.replace(tzinfo=UTC)
        self._seen: list[str] = []

    @classmethod
    def from_file(cls, path: Path, **options: Any) -> ServiceAccountToken:
        """Read at start (the composition root), before the event loop serves anything."""
        try:
            if not path.is_file():  # not /dev/zero, not a FIFO: a file of a few KB
                raise KeyFileError(f"{path} is not a regular file")
            with path.open("rb") as file:
                data = file.read(KEY_FILE_MAX + 1)
            if len(data) > KEY_FILE_MAX:
                raise KeyFileError(f"{path} is far larger than a key file")
            info = json.loads(data.decode("utf-8"))
        except (OSError, ValueError) as err:
            if isinstance(err, KeyFileError):
                raise
            raise KeyFileError(f"cannot read {path} ({type(err).__name__})") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise KeyFileError(f"{path} is not a service account key (type service_account)")
        return cls(info, **options)

    async def headers(self) -> Mapping[str, str]:
        async with self._lock:  # one refresh at a time; the others wait for its token
            if not self._token or self._clock() >= self._due:
                await self._refresh()
        return {"Authorization": f"Bearer {self._token}"}

    def secrets(self) -> list[str]:
        return list(self._seen)

    async def _refresh(self) -> None:
        try:
            token, lifetime = await asyncio.to_thread(self._fetch)
        except auth_errors.RefreshError as err:
            raise ProviderAuthError(
                f"Google refused the service account key ({_reason(err)}); check "
                "GOOGLE_APPLICATION_CREDENTIALS and the account's Vertex AI role",
                code="token_refused",
            ) from None
        except auth_errors.TransportError as err:
            # Nothing reached Vertex AI: the request that wanted the token may go later.
            raise Unreachable(f"cannot reach Google's token endpoint ({err})") from None
        self._token = token
        self._due = self._clock() + max(lifetime - MARGIN, lifetime / 2)
        self._seen = [*self._seen[-(_KEPT - 1) :], token]

    def _fetch(self) -> tuple[str, timedelta]:
        self._credentials.refresh(self._transport)
        token = str(self._credentials.token or "")
        if not token:
            raise auth_errors.RefreshError("the token endpoint gave no token")  # type: ignore[no-untyped-call]
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        now = datetime.now(UTC).replace(tzinfo=None)
        return token, (expiry - now) if expiry else timedelta(minutes=10)


class HttpxTransport(transport.Request):
    """google-auth's HTTP seam over httpx: no proxy settings from the environment, no
    redirects followed, a time-out on every call, and a connection per call (a token is
    asked for about once an hour: nothing is kept open in between)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Answer:
        try:
            with httpx.Client(
                trust_env=False, follow_redirects=False, timeout=timeout or self._timeout
            ) as client:
                answer = client.request(method, url, content=body, headers=dict(headers or {}))
        except httpx.HTTPError as err:
            raise auth_errors.TransportError(type(err).__name__) from None  # type: ignore[no-untyped-call]
        return _Answer(answer)


class _Answer(transport.Response):
    def __init__(self, answer: httpx.Response) -> None:
        self._answer = answer

    @property
    def status(self) -> int:
        return self._answer.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    @property
    def data(self) -> bytes:
        return self._answer.content


def _reason(err: auth_errors.RefreshError) -> str:
    """The token endpoint's own error word (invalid_grant...), never the whole answer."""
    text = str(err.args[0] if err.args else err)
    return text.split(":", 1)[0][:80] or "refused"
