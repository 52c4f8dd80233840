"""Requests to the video API with RELIABILITY.md's retry policy: each one under the 429 gate,
a total time limit and a byte cap; transient failures of a request that may be repeated are
retried with jittered back-off, never 400/401; a non-idempotent one that may have reached the
provider raises SubmitAmbiguous instead of going out twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from adapters.provider.answer import AnswerReader, outcome
from adapters.provider.auth import Credentials
from adapters.provider.exchange import AnswerTooLarge, TimeLimitExceeded, exchange
from adapters.provider.hold import RateHold
from adapters.provider.inline import SpillBatch
from bot.errors import (
    ProviderError,
    ProviderTransient,
    RateLimited,
    SubmitAmbiguous,
    Unreachable,
)
from bot.ports import Observer

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class ApiCaller:
    def __init__(  # noqa: PLR0913 (the knobs of one request policy, each from the client)
        self,
        client: httpx.AsyncClient,
        base_url: str,
        auth: Credentials,
        answers: AnswerReader,
        hold: RateHold,
        observer: Observer,
        *,
        attempts: int,
        patience: float,
        total_timeout: float,
        max_answer: int,
        spill_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._base = base_url
        self._auth = auth
        self._answers = answers
        self._hold = hold
        self._observer = observer
        self._attempts = attempts
        self._patience = patience
        self._total_timeout = total_timeout
        self._max_answer = max_answer
        self._spill_timeout = spill_timeout

    async def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        files: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        wait: bool = True,
        on_send: Callable[[], Awaitable[None]] | None = None,
        spill: SpillBatch | None = None,
    ) -> httpx.Response:
        """`spill`: the answer may carry a video inline; its long strings go to files (the
        batch holds every attempt's, for the caller to settle)."""
        url = path if path.startswith(self._base + "/") else f"{self._base}{path}"
        last: ProviderError = ProviderTransient("no attempt made")
        # Without waiting, only a request that may be repeated gets more than one attempt.
        attempts = self._attempts if wait or idempotent else 1
        for attempt in range(attempts):
            await self._hold.gate(self._patience if wait else 0.0)
            started = time.monotonic()
            try:
                response = await exchange(
                    self._client,
                    method,
                    url,
                    limit=self._total_timeout,
                    cap=self._max_answer,
                    on_send=on_send,
                    spill=spill.reader() if spill is not None else None,
                    spill_limit=self._spill_timeout,
                    json=json,
                    files=files,
                    content=content,
                    headers={**await self._auth.headers(), **(headers or {})},
                )
            except (TimeLimitExceeded, AnswerTooLarge) as err:
                sent = not isinstance(err, TimeLimitExceeded) or err.sent
                self.report(
                    operation, started, "ambiguous" if sent and not idempotent else "transient"
                )
                if sent and not idempotent:
                    raise SubmitAmbiguous(f"the video service {err}") from None
                last = (ProviderTransient if sent else Unreachable)(f"the video service: {err}")
            except _NOT_SENT as err:
                self.report(operation, started, "transient")
                last = Unreachable(f"cannot reach the video service ({type(err).__name__})")
            except httpx.TransportError as err:
                self.report(operation, started, "transient" if idempotent else "ambiguous")
                if not idempotent:
                    raise SubmitAmbiguous(
                        f"the connection failed after the request was sent ({type(err).__name__})"
                    ) from None
                last = ProviderTransient(f"the connection failed ({type(err).__name__})")
            else:
                if response.is_success:
                    self.report(operation, started, "ok")
                    return response
                last = self._answers.error(response)
                ambiguous = (
                    not idempotent
                    and isinstance(last, ProviderTransient)
                    and not isinstance(last, RateLimited)
                )
                self.report(operation, started, "ambiguous" if ambiguous else outcome(last))
                if isinstance(last, RateLimited):
                    self._hold.slow_down(last, attempt)
                elif not isinstance(last, ProviderTransient):
                    raise last
                elif not idempotent:
                    raise SubmitAmbiguous(str(last), request_id=last.request_id) from None
            if attempt + 1 < attempts and not isinstance(last, RateLimited):
                await asyncio.sleep(self._hold.backoff(attempt))
        raise last

    async def download(self, fetch: Callable[[], Awaitable[int]]) -> int:
        """A result download (`fetch` makes one attempt) under the same policy: the 429 gate,
        transient failures tried again after a back-off, anything else raised at once."""
        last: ProviderError = ProviderTransient("download failed")
        for attempt in range(self._attempts):
            await self._hold.gate(self._patience)
            started = time.monotonic()
            try:
                size = await fetch()
            except ProviderError as err:
                self.report("download", started, outcome(err))
                if not isinstance(err, ProviderTransient):
                    raise
                last = err
                if isinstance(err, RateLimited):
                    self._hold.slow_down(err, attempt)
                    continue  # the gate holds the next attempt back
            else:
                self.report("download", started, "ok")
                return size
            if attempt + 1 < self._attempts:
                await asyncio.sleep(self._hold.backoff(attempt))
        raise last

    def report(self, operation: str, started: float, result: str) -> None:
        self._observer.provider_call(operation, time.monotonic() - started, result)
