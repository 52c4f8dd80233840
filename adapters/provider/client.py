"""The Provider port over HTTP (one shared httpx.AsyncClient): requests go through the retry
policy of caller.py (a 429 holds the whole client; a long hold raises at once, nothing sent, so
no worker slot or stopping process waits in it); everything the provider says is cleaned of
credentials (redact.py) before anyone sees it; results download through the SSRF-safe fetcher."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.fetch.fetcher import SafeFetcher
from adapters.provider.answer import AnswerReader, clip
from adapters.provider.auth import Credentials, StaticKey
from adapters.provider.caller import ApiCaller
from adapters.provider.dialects.base import Dialect, SubmitContext
from adapters.provider.download import fetch_result
from adapters.provider.hold import RateHold
from adapters.provider.inline import InlineResults, SpillBatch, inline_texts
from adapters.provider.redact import Redactor, ResultLinks, Taught, is_text
from adapters.provider.usage import ReportedUsage, billed_units
from bot.domain import MediaRef, VideoRequest
from bot.errors import (
    ProviderRejected,
    ProviderTransient,
    ResultExpired,
    SubmitAmbiguous,
    TaskNotFound,
)
from bot.ports import NullObserver, Observer, ProviderState, ProviderStatus

log = logging.getLogger(__name__)
MAX_TASK_ID = 256  # longer ids outgrow URL limits; no gateway issues them


class HttpProvider:
    def __init__(
        self,
        client: httpx.AsyncClient,
        dialect: Dialect,
        *,
        base_url: str,
        api_key: str,
        model: str,
        resolution: str = "720p",
        upload_path: str = "/v1/uploads/images",
        auth: str = "bearer",
        credentials: Credentials | None = None,
        media: str = "upload",
        callback_url: str | None = None,
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
        spill_dir: Path | None = None,
    ) -> None:
        """`fetcher` downloads results (SSRF-checked); without one, a default production
        fetcher is made (public https only) and closed by `aclose()`. `hold_patience`: the
        longest 429 hold a request waits out in place; `monotonic` times the hold.
        `total_timeout` bounds one API exchange from start to last byte (`download_timeout`
        one download); `max_answer_bytes` caps the JSON answer read into memory. `auth` names
        how the key is sent (auth.py), unless `credentials` (a changing token) are given;
        `media` how a user's media reaches the provider (upload | inline | files);
        `callback_url` is passed to providers that call back when a task ends. An inline video
        is decoded into `spill_dir` (inline.py; None: a temporary directory of its own)."""
        self._client = client
        self._owns_fetcher = fetcher is None
        self._fetcher = fetcher or SafeFetcher()
        self._dialect = dialect
        self._base = base_url.rstrip("/")
        self._origin = _origin(self._base)
        self._redactor = Redactor(api_key)
        self._credentials = Taught(credentials or StaticKey(api_key, auth), self._redactor)
        self._inline = InlineResults(spill_dir, cap=self._fetcher.policy.max_bytes)
        self._answers = AnswerReader(self._redactor)
        self._links = ResultLinks(self._redactor)
        self._usage = ReportedUsage()
        self._model = model
        self._resolution = resolution.lower()
        self._media = media
        self._callback_url = callback_url
        self.upload_path = upload_path
        self._idem_header = idempotency_header
        self._observer = observer or NullObserver()
        self._download_timeout = download_timeout
        self._hold = RateHold(retry_base, rng or random.Random(), monotonic)
        self._api = ApiCaller(
            client,
            self._base,
            self._credentials,
            self._answers,
            self._hold,
            self._observer,
            attempts=attempts,
            patience=hold_patience,
            total_timeout=total_timeout,
            max_answer=max_answer_bytes,
            spill_timeout=download_timeout,
        )

    @property
    def resubmit_safe(self) -> bool:
        return self._idem_header is not None

    @property
    def rate_limited(self) -> int:
        """How many 429s this client has met (each one held every request)."""
        return self._hold.rate_limited

    def shareable(self, url: str) -> str | None:
        return None if InlineResults.holds(url) else self._links.shareable(url)

    def held_for(self) -> timedelta:
        """How much longer the client-wide 429 hold lasts (zero: requests may leave now)."""
        return self._hold.held_for()

    # -- the Provider port -------------------------------------------------------------------
    async def stage(self, media: MediaRef) -> str:
        if media.url:
            return media.url
        return await self._dialect.stage(media, self, self._media)

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

        request = await self._links.revealed(request, self.stage)
        ctx = SubmitContext(
            model=self._model,
            resolution=request.resolution or self._resolution,
            callback_url=self._callback_url,
            inline=await inline_texts(request),
        )
        path = self._dialect.submit_path(request, ctx)
        body = self._dialect.submit_body(request, ctx)
        headers = {self._idem_header: task_id} if self._idem_header else {}
        try:
            response = await self._api.request(
                "submit",
                "POST",
                path,
                json=body,
                headers=headers,
                idempotent=self.resubmit_safe,
                wait=wait,
                on_send=once,
            )
        except TaskNotFound as err:
            if request.previous:  # the result being continued is gone (nothing was created)
                raise ProviderRejected(
                    "the video service no longer keeps the video to edit; make it again",
                    code="previous_gone",
                    request_id=err.request_id,
                ) from None
            # No route at that path: nothing was created. It is a configuration error, not a
            # lost task: the operator's log names the URL, the user is told no more than that.
            where = f"{path.split('?')[0]} under {self._base} ({err})"
            log.error("OPERATOR: no %s; VIDEO_API_URL must be the API root", where)
            raise ProviderRejected(
                "the bot's video service address is wrong (an operator must fix VIDEO_API_URL)",
                code="not_found",
                request_id=err.request_id,
            ) from None
        try:
            provider_task_id = self._dialect.parse_submit(answer := response.json())
            self._usage.submitted(self._dialect, provider_task_id, answer)
        except ValueError as err:
            # The provider answered 2xx, so a task may exist; we just cannot name it.
            raise SubmitAmbiguous(
                f"unreadable submit answer: {clip(self._answers.redact(response.text))}"
            ) from err
        if problem := self._unkeepable(provider_task_id):
            # A task may exist, but an id we cannot store, poll or show names nothing we can use.
            raise SubmitAmbiguous(f"the video service named the task with {problem}")
        return provider_task_id

    def _unkeepable(self, provider_task_id: str) -> str | None:
        if len(provider_task_id) > MAX_TASK_ID:
            return f"an id of {len(provider_task_id)} characters (at most {MAX_TASK_ID} are kept)"
        if self._redactor.has_key(provider_task_id):
            return "an id that carries our API key"
        if not is_text(provider_task_id):  # (control characters are fine: the path is encoded)
            return "an id that is not valid text"
        return None

    async def fetch(self, provider_task_id: str) -> ProviderStatus:
        dialect, claimed = self._dialect, None
        inline = getattr(dialect, "inline_results", False)
        spills = self._inline.batch(provider_task_id) if inline else None
        try:
            poll = dialect.poll_path(provider_task_id)
            status = await self._read("poll", poll, dialect.parse_status, spills)
            # Some providers (fal) keep the result behind a second address.
            path = dialect.result_path(provider_task_id)
            if status.state is ProviderState.SUCCEEDED and not status.video_url and path:
                status = await self._read("result", path, dialect.parse_result, spills)
            claimed = status.video_url
        finally:
            if spills is not None:  # every spilled file but the claimed video goes
                await spills.settle(claimed)
        status = self._usage.polled(provider_task_id, await self._inline.resolved(status))
        # What the provider says is shown, logged and stored: no credential may ride along.
        text = self._redactor.text
        return replace(
            status,
            video_url=self._links.hide(status.video_url) if status.video_url else None,
            error_code=text(status.error_code) if status.error_code else None,
            error_message=text(status.error_message) if status.error_message else None,
            raw_state=text(status.raw_state) if status.raw_state else None,
        )

    async def _read(
        self,
        operation: str,
        path: str,
        parse: Callable[[Any], ProviderStatus],
        spills: SpillBatch | None,
    ) -> ProviderStatus:
        response = await self._api.request(operation, "GET", path, idempotent=True, spill=spills)
        try:
            return billed_units(parse(self._answers.body(response)), response.headers)
        except ValueError as err:
            raise ProviderTransient(
                f"unreadable status answer: {clip(self._answers.redact(response.text))}"
            ) from err

    async def download(self, url: str, dest: Path, max_bytes: int) -> int:
        if InlineResults.holds(url):  # a video that came inside the poll answer
            return await self._inline.take(url, dest, max_bytes)
        if (real := self._links.reveal(url)) is None:
            # A link that carried a credential is kept in memory only (never in the ledger):
            # after a restart, ask the provider for a fresh one.
            raise ResultExpired("the result link was not kept; asking for a fresh one")
        url = real
        # The key goes only to the API's own origin, never to a CDN the result lives on.
        headers = await self._credentials.headers() if _origin(url) == self._origin else {}
        return await self._api.download(
            lambda: fetch_result(
                self._fetcher,
                url,
                dest,
                headers=headers,
                cap=max_bytes,
                limit=self._download_timeout,
                redact=self._redactor.text,
            )
        )

    # -- the Wire a dialect stages media through --------------------------------------------
    async def request(
        self, operation: str, method: str, path: str, *, idempotent: bool, **options: Any
    ) -> httpx.Response:
        return await self._api.request(operation, method, path, idempotent=idempotent, **options)

    def body(self, response: httpx.Response) -> dict[str, Any]:
        return self._answers.body(response)

    def hide(self, url: str) -> str:
        return self._links.hide(url)

    # -- plumbing ----------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._inline.aclose()
        if self._owns_fetcher:
            await self._fetcher.aclose()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port
