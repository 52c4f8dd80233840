"""The Provider port over HTTP (one shared httpx.AsyncClient) with RELIABILITY.md's retries: a 429
holds the whole client (Retry-After honoured); polls and downloads retry transient failures, never
400/401; a submit is re-sent only if nothing was sent or the gateway takes an idempotency key.
A request waits out a short hold; a long one raises RateLimited at once (nothing sent), so the
caller reschedules instead of keeping a worker slot, and a stopping process, waiting."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.fetch.fetcher import SafeFetcher
from adapters.provider.answer import AnswerReader, clip, outcome
from adapters.provider.dialects.base import Dialect
from adapters.provider.download import fetch_result
from adapters.provider.exchange import AnswerTooLarge, TimeLimitExceeded, exchange
from adapters.provider.hold import RateHold
from adapters.provider.redact import Redactor, ResultLinks
from bot.domain import MediaRef, VideoRequest
from bot.errors import (
    ProviderError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    ResultExpired,
    SubmitAmbiguous,
    TaskNotFound,
    Unreachable,
)
from bot.ports import NullObserver, Observer, ProviderStatus

log = logging.getLogger("videobot.provider")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class HttpProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        dialect: Dialect,
        *,
        base_url: str,
        api_key: str,
        model: str,
        resolution: str = "720P",
        upload_path: str = "/v1/uploads/images",
        idempotency_header: str | None = None,
        retry_base: float = 0.5,
        attempts: int = 3,
        rng: random.Random | None = None,
        observer: Observer | None = None,
        fetcher: SafeFetcher | None = None,
        hold_patience: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        total_timeout: float = 60.0,
        download_timeout: float = 600.0,
        max_answer_bytes: int = 1 << 20,
    ) -> None:
        """`fetcher` downloads results (SSRF-checked); without one, a default production
        fetcher is made (public https only) and closed by `aclose()`. `hold_patience`: the
        longest 429 hold a request waits out in place; `monotonic` times the hold.
        `total_timeout` bounds one API exchange from start to last byte (`download_timeout`
        one download); `max_answer_bytes` caps the JSON answer read into memory."""
        self._client = client
        self._owns_fetcher = fetcher is None
        self._fetcher = fetcher or SafeFetcher()
        self._dialect = dialect
        self._base = base_url.rstrip("/")
        self._origin = _origin(self._base)
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._redactor = Redactor(api_key)
        self._answers = AnswerReader(self._redactor)
        self._links = ResultLinks(self._redactor)
        self._model = model
        self._resolution = resolution
        self._upload_path = upload_path
        self._idem_header = idempotency_header
        self._attempts = attempts
        self._observer = observer or NullObserver()
        self._hold_patience = hold_patience
        self._total_timeout = total_timeout
        self._download_timeout = download_timeout
        self._max_answer = max_answer_bytes
        self._hold = RateHold(retry_base, rng or random.Random(), monotonic)

    @property
    def resubmit_safe(self) -> bool:
        return self._idem_header is not None

    @property
    def rate_limited(self) -> int:
        """How many 429s this client has met (each one held every request)."""
        return self._hold.rate_limited

    def held_for(self) -> timedelta:
        """How much longer the client-wide 429 hold lasts (zero: requests may leave now)."""
        return self._hold.held_for()

    # -- the Provider port -------------------------------------------------------------------
    async def stage(self, media: MediaRef) -> str:
        if media.url:
            return media.url
        data = await asyncio.to_thread(Path(media.path).read_bytes)
        files = {"file": (media.name or Path(media.path).name, data, media.mime)}
        response = await self._request(
            "stage", "POST", self._upload_path, files=files, idempotent=True
        )
        body = self._answers.body(response)
        url = body.get("url") or (body.get("data") or {}).get("url")
        if not url:
            raise ProviderError("the upload endpoint answered without a URL")
        return str(url)

    async def submit(
        self,
        request: VideoRequest,
        task_id: str,
        *,
        wait: bool = True,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """`wait=False` never waits (for a 429 hold or a retry back-off): it raises
        RateLimited or Unreachable instead, nothing sent. `on_send` runs once, just before the
        first byte of the POST leaves: the caller records `submitting` then, not earlier."""
        sending = False

        async def once() -> None:
            nonlocal sending
            if on_send is not None and not sending:
                await on_send()
            sending = True

        body = self._dialect.submit_body(request, self._model, self._resolution)
        headers = {self._idem_header: task_id} if self._idem_header else {}
        try:
            response = await self._request(
                "submit",
                "POST",
                self._dialect.submit_path,
                json=body,
                headers=headers,
                idempotent=self.resubmit_safe,
                wait=wait,
                on_send=once,
            )
        except TaskNotFound as err:
            # No route at that path: nothing was created. It is a configuration error, not a
            # lost task, so say which URL is wrong instead of "no such task".
            raise ProviderRejected(
                f"the video service has no {self._dialect.submit_path} under {self._base} "
                f"({err}); VIDEO_API_URL must be the gateway's API root",
                code="not_found",
                request_id=err.request_id,
            ) from None
        try:
            return self._dialect.parse_submit(response.json())
        except ValueError as err:
            # The provider answered 2xx, so a task may exist; we just cannot name it.
            raise SubmitAmbiguous(
                f"unreadable submit answer: {clip(self._answers.redact(response.text))}"
            ) from err

    async def fetch(self, provider_task_id: str) -> ProviderStatus:
        response = await self._request(
            "poll", "GET", self._dialect.poll_path(provider_task_id), idempotent=True
        )
        try:
            status = self._dialect.parse_status(self._answers.body(response))
        except ValueError as err:
            raise ProviderTransient(
                f"unreadable status answer: {clip(self._answers.redact(response.text))}"
            ) from err
        # What the provider says is shown, logged and stored: no credential may ride along.
        text = self._redactor.text
        return replace(
            status,
            video_url=self._links.hide(status.video_url) if status.video_url else None,
            error_code=text(status.error_code) if status.error_code else None,
            error_message=text(status.error_message) if status.error_message else None,
        )

    async def download(self, url: str, dest: Path, max_bytes: int) -> int:
        if (real := self._links.reveal(url)) is None:
            # A link that carried a credential is kept in memory only (never in the ledger):
            # after a restart, ask the provider for a fresh one.
            raise ResultExpired("the result link was not kept; asking for a fresh one")
        url = real
        # The key goes only to the API's own origin, never to a CDN the result lives on.
        headers = self._auth if _origin(url) == self._origin else {}
        last: ProviderError = ProviderTransient("download failed")
        for attempt in range(self._attempts):
            await self._hold.gate(self._hold_patience)
            started = time.monotonic()
            try:
                size = await fetch_result(
                    self._fetcher,
                    url,
                    dest,
                    headers=headers,
                    cap=max_bytes,
                    limit=self._download_timeout,
                    redact=self._redactor.text,
                )
            except ProviderError as err:
                self._report("download", started, outcome(err))
                if not isinstance(err, ProviderTransient):
                    raise
                if isinstance(err, RateLimited):
                    self._hold.slow_down(err, attempt)
                    last = err
                    continue  # the gate holds the next attempt back
                last = err
            else:
                self._report("download", started, "ok")
                return size
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._hold.backoff(attempt))
        raise last

    # -- plumbing ----------------------------------------------------------------------------
    async def aclose(self) -> None:
        if self._owns_fetcher:
            await self._fetcher.aclose()

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        wait: bool = True,
        on_send: Callable[[], Awaitable[None]] | None = None,
    ) -> httpx.Response:
        url = f"{self._base}{path}"
        last: ProviderError = ProviderTransient("no attempt made")
        # Without waiting, only a request that may be repeated gets more than one attempt.
        attempts = self._attempts if wait or idempotent else 1
        for attempt in range(attempts):
            await self._hold.gate(self._hold_patience if wait else 0.0)
            started = time.monotonic()
            try:
                response = await exchange(
                    self._client,
                    method,
                    url,
                    limit=self._total_timeout,
                    cap=self._max_answer,
                    on_send=on_send,
                    json=json,
                    files=files,
                    headers={**self._auth, **(headers or {})},
                )
            except (TimeLimitExceeded, AnswerTooLarge) as err:
                sent = not isinstance(err, TimeLimitExceeded) or err.sent
                self._report(
                    operation, started, "ambiguous" if sent and not idempotent else "transient"
                )
                if sent and not idempotent:
                    raise SubmitAmbiguous(f"the video service {err}") from None
                last = (ProviderTransient if sent else Unreachable)(f"the video service: {err}")
            except _NOT_SENT as err:
                self._report(operation, started, "transient")
                last = Unreachable(f"cannot reach the video service ({type(err).__name__})")
            except httpx.TransportError as err:
                self._report(operation, started, "transient" if idempotent else "ambiguous")
                if not idempotent:
                    raise SubmitAmbiguous(
                        f"the connection failed after the request was sent ({type(err).__name__})"
                    ) from None
                last = ProviderTransient(f"the connection failed ({type(err).__name__})")
            else:
                if response.is_success:
                    self._report(operation, started, "ok")
                    return response
                last = self._answers.error(response)
                ambiguous = (
                    not idempotent
                    and isinstance(last, ProviderTransient)
                    and not isinstance(last, RateLimited)
                )
                self._report(operation, started, "ambiguous" if ambiguous else outcome(last))
                if isinstance(last, RateLimited):
                    self._hold.slow_down(last, attempt)
                elif not isinstance(last, ProviderTransient):
                    raise last
                elif not idempotent:
                    raise SubmitAmbiguous(str(last), request_id=last.request_id) from None
            if attempt + 1 < attempts and not isinstance(last, RateLimited):
                await asyncio.sleep(self._hold.backoff(attempt))
        raise last

    def _report(self, operation: str, started: float, result: str) -> None:
        self._observer.provider_call(operation, time.monotonic() - started, result)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port
