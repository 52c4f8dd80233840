"""The one SSRF-safe fetcher: every URL videobot downloads that is not a constant (image links,
chat attachments, provider result URLs) goes through `SafeFetcher`, which checks each hop with
`adapters.fetch.hop` and streams the body under a byte cap."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

from adapters.fetch.addresses import Resolver, origin, system_resolver
from adapters.fetch.errors import (
    FetchRefused,
    FetchStatus,
    FetchTooLarge,
    FetchUnavailable,
)
from adapters.fetch.hop import FetchPolicy, Hop, check_hop
from adapters.fetch.pinned import PIN_EXTENSION, PinnedTransport

log = logging.getLogger("videobot.fetch")


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Headers the fetcher owns; a caller cannot set them.
_RESERVED_HEADERS = frozenset(
    {"host", "accept-encoding", "connection", "content-length", "transfer-encoding", "te"}
)


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # the final URL, after redirects (may be signed: do not log it)
    status: int
    content_type: str  # what the server claimed; never trusted for the file's type
    size: int
    sha256: str
    address: str  # the IP address the body came from
    redirects: int
    path: Path | None = None  # fetch_to_file
    data: bytes | None = None  # fetch_bytes


# -- the fetcher --------------------------------------------------------------------------------
class SafeFetcher:
    """Downloads URLs under a `FetchPolicy`. One instance is shared; `aclose()` at shutdown.

    Redirects are never followed automatically: each `Location` is a new hop for `check_hop`, and
    the caller's headers (e.g. `Authorization`) are dropped for good once the origin changes. Each
    request goes to the address `check_hop` validated (`PinnedTransport`: no DNS rebinding). The
    body is streamed under a byte cap that holds whatever `Content-Length` says, read without
    content coding (no gzip bomb can inflate past the cap). `trust_env=False`: no proxy or
    certificate settings from the environment, no cookie jar.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        verify: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._resolver = resolver or system_resolver
        no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.AsyncClient(
            transport=PinnedTransport(verify),
            trust_env=False,
            follow_redirects=False,
            cookies=no_cookies,
            timeout=httpx.Timeout(
                connect=self.policy.connect_timeout,
                read=self.policy.read_timeout,
                write=self.policy.read_timeout,
                pool=self.policy.connect_timeout,
            ),
            headers={"User-Agent": "videobot", "Accept-Encoding": "identity"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def fetch_to_file(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
        source: str = "default",
    ) -> FetchResult:
        """Stream `url` into `dest` (written beside it, then renamed; removed on any failure)."""
        temp = dest.with_name(dest.name + ".fetching")
        file = await asyncio.to_thread(temp.open, "wb")
        try:
            try:
                result = await self._fetch(url, max_bytes, headers, source, file.write)
            finally:
                await asyncio.to_thread(file.close)
            await asyncio.to_thread(os.replace, temp, dest)
        except BaseException:
            await asyncio.to_thread(temp.unlink, True)
            raise
        return replace(result, path=dest)

    async def fetch_bytes(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
        source: str = "default",
    ) -> FetchResult:
        """The body of `url` in memory (`.data`), under the same checks and cap."""
        chunks: list[bytes] = []

        def keep(chunk: bytes) -> int:
            chunks.append(chunk)
            return len(chunk)

        result = await self._fetch(url, max_bytes, headers, source, keep, in_thread=False)
        return replace(result, data=b"".join(chunks))

    # -- one fetch: hops, then the body ---------------------------------------------------------
    async def _fetch(
        self,
        url: str,
        max_bytes: int | None,
        headers: Mapping[str, str] | None,
        source: str,
        sink: Callable[[bytes], object],
        *,
        in_thread: bool = True,
    ) -> FetchResult:
        cap = min(max_bytes or self.policy.max_bytes, self.policy.max_bytes)
        host = ""
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                response, hop, address, redirects = await self._open(url, headers, source)
                host = hop.host
                try:
                    size, digest = await self._read(response, hop.host, cap, sink, in_thread)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise FetchUnavailable(
                f"Downloading from {host or 'that address'} took longer than "
                f"{self.policy.total_timeout:g}s; try again.",
                host=host,
            ) from None
        log.info("fetched %d bytes from %s (%s) for %s", size, hop.host, address, source)
        return FetchResult(
            url=str(hop.url),
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
            size=size,
            sha256=digest,
            address=address,
            redirects=redirects,
        )

    async def _open(
        self, url: str, headers: Mapping[str, str] | None, source: str
    ) -> tuple[httpx.Response, Hop, str, int]:
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _RESERVED_HEADERS}
        hop = await check_hop(url, source, self.policy, self._resolver)
        first = origin(hop.url)
        for redirects in range(self.policy.max_redirects + 1):
            response, address = await self._send(hop, extra)
            if response.status_code not in _REDIRECTS:
                if response.status_code != 200:
                    await response.aclose()
                    raise FetchStatus(
                        f"{hop.host} answered HTTP {response.status_code} instead of the "
                        "file; the link may have expired. Share the file or link again.",
                        host=hop.host,
                        status=response.status_code,
                        retry_after=response.headers.get("retry-after"),
                    )
                return response, hop, address, redirects
            location = response.headers.get("location", "")
            await response.aclose()
            if not location:
                raise FetchRefused(f"{hop.host} redirected without saying where.", host=hop.host)
            try:
                target = str(hop.url.join(location))
            except (httpx.InvalidURL, ValueError):
                raise FetchRefused(
                    f"{hop.host} redirected to a broken URL.", host=hop.host
                ) from None
            try:
                hop = await check_hop(target, source, self.policy, self._resolver)
            except FetchRefused as err:
                raise FetchRefused(
                    f"Refused a redirect from {hop.host}: {err}", host=err.host
                ) from None
            if extra and origin(hop.url) != first:
                log.debug("redirected to another origin: dropping the caller's headers")
                extra = {}  # credentials never follow a redirect to another origin
        raise FetchRefused(
            f"{hop.host} redirected more than {self.policy.max_redirects} times.", host=hop.host
        )

    async def _send(self, hop: Hop, headers: Mapping[str, str]) -> tuple[httpx.Response, str]:
        failure: httpx.HTTPError | None = None
        for address in hop.addresses:  # the next address only if connecting failed
            request = self._client.build_request(
                "GET", hop.url, headers=headers, extensions={PIN_EXTENSION: address}
            )
            try:
                return await self._client.send(request, stream=True), address
            except httpx.ConnectError as err:
                failure = err
            except httpx.TimeoutException:
                raise FetchUnavailable(
                    f"{hop.host} did not answer in time; try again.", host=hop.host
                ) from None
            except httpx.HTTPError as err:
                raise FetchUnavailable(
                    f"The connection to {hop.host} failed ({type(err).__name__}).", host=hop.host
                ) from None
        detail = type(failure).__name__ if failure else "no address"
        raise FetchUnavailable(f"Could not connect to {hop.host} ({detail}).", host=hop.host)

    async def _read(
        self,
        response: httpx.Response,
        host: str,
        cap: int,
        sink: Callable[[bytes], object],
        in_thread: bool,
    ) -> tuple[int, str]:
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        if coding not in ("", "identity"):
            raise FetchRefused(
                f"{host} sent a compressed ({coding}) body; I only take plain files.", host=host
            )
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise FetchTooLarge(_too_large(host, cap), host=host, limit=cap)
        size = 0
        digest = hashlib.sha256()
        try:
            async for chunk in response.aiter_raw(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise FetchTooLarge(_too_large(host, cap), host=host, limit=cap)
                digest.update(chunk)
                if in_thread:
                    await asyncio.to_thread(sink, chunk)
                else:
                    sink(chunk)
        except httpx.TimeoutException:
            raise FetchUnavailable(f"{host} stopped sending; try again.", host=host) from None
        except httpx.HTTPError as err:
            raise FetchUnavailable(
                f"The download from {host} broke off ({type(err).__name__}); try again.",
                host=host,
            ) from None
        return size, digest.hexdigest()


def _too_large(host: str, cap: int) -> str:
    return f"The file at {host} is larger than {_mb(cap)}; send something smaller."


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size} bytes"
