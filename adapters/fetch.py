"""The one SSRF-safe fetcher: every URL videobot downloads that is not a constant (image links,
chat attachments, provider result URLs) goes through `SafeFetcher`.

Each hop of a fetch is checked before anything is sent:

1. the scheme is https (plain http only to a loopback address, and only under a policy with
   `allow_loopback=True`, which tests and the local simulator use; it is off by default);
2. the URL carries no credentials, its host is on the source's allowlist when the policy has
   one, and it is not an odd spelling of an IPv4 address (`0x7f.1`, `2130706433`, `0177.1`);
3. the host is resolved once (`loop.getaddrinfo`) and every address it resolves to must be a
   public one: private, loopback, link-local (cloud metadata at 169.254.169.254), CGNAT,
   multicast, reserved, IPv4-mapped/compatible IPv6 and 6to4/Teredo/NAT64 wrappers around such
   addresses are refused;
4. the connection goes to the validated address itself (`PinnedTransport`), with the `Host`
   header and the TLS server name (SNI, certificate check) still those of the URL's host, so a
   second DNS answer cannot steer the request elsewhere (DNS rebinding).

Redirects are never followed automatically: each `Location` is a new hop, checked as above, and
the caller's headers (e.g. `Authorization`) are dropped for good once the origin changes. The
body is streamed (to disk for `fetch_to_file`) under a byte cap that holds whatever
`Content-Length` says, with connect/read timeouts and a deadline for the whole fetch; the
response is asked for and read without content coding, so no gzip bomb can inflate past the cap.
`trust_env=False`: no proxy or certificate settings from the environment, no cookie jar.

Error messages name the host, never the whole URL (query strings of signed URLs are secrets).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx

from adapters.addresses import (
    IPAddress,
    Resolver,
    address_refusal,
    host_allowed,
    ip_literal,
    is_odd_ipv4,
    origin,
    system_resolver,
)
from adapters.pinned import PIN_EXTENSION, PinnedTransport
from bot.errors import MediaError
from bot.media import MAX_VIDEO_BYTES

log = logging.getLogger("videobot.fetch")


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Headers the fetcher owns; a caller cannot set them.
_RESERVED_HEADERS = frozenset(
    {"host", "accept-encoding", "connection", "content-length", "transfer-encoding", "te"}
)
ACCEPTED_URLS = "public https addresses"


# -- errors -------------------------------------------------------------------------------------
class FetchError(MediaError):
    """A download failed. The text is safe to show a user: it names the host, not the URL."""

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class FetchRefused(FetchError):
    """The policy refused the URL or a redirect before anything was sent there."""


class FetchTooLarge(FetchError):
    """The body is (or claims to be) larger than the cap; nothing was kept."""

    def __init__(self, message: str, *, host: str = "", limit: int = 0) -> None:
        super().__init__(message, host=host)
        self.limit = limit


class FetchStatus(FetchError):
    """The server answered with a status other than 200 (after redirects)."""

    def __init__(
        self, message: str, *, host: str = "", status: int, retry_after: str | None = None
    ) -> None:
        super().__init__(message, host=host)
        self.status = status
        self.retry_after = retry_after  # the raw Retry-After header, if any


class FetchUnavailable(FetchError):
    """DNS, connect, TLS, timeout or a broken transfer: trying again later may work."""


# -- policy -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What the fetcher may reach. The defaults are the production ones.

    `hosts` maps a source name (e.g. "slack", "discord", "provider") to the host names that
    source may fetch from, on every hop: `files.slack.com` matches exactly, `*.example.com` any
    subdomain. A source with no entry may fetch from any public host.
    """

    schemes: frozenset[str] = frozenset({"https"})
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allow_loopback: bool = False  # tests and the local simulator only
    max_bytes: int = MAX_VIDEO_BYTES
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 300.0  # the whole fetch: DNS, every hop and the body
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if not self.schemes or not self.schemes <= {"http", "https"}:
            raise ValueError("FetchPolicy.schemes must be a subset of {'http', 'https'}")
        if self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError("FetchPolicy limits must be positive")


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
@dataclass(frozen=True, slots=True)
class _Hop:
    url: httpx.URL
    host: str
    addresses: tuple[str, ...]


class SafeFetcher:
    """Downloads URLs under a `FetchPolicy`. One instance is shared; `aclose()` at shutdown."""

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
    ) -> tuple[httpx.Response, _Hop, str, int]:
        extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _RESERVED_HEADERS}
        hop = await self._check(url, source)
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
                hop = await self._check(target, source)
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

    async def _send(self, hop: _Hop, headers: Mapping[str, str]) -> tuple[httpx.Response, str]:
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

    # -- per-hop checks -------------------------------------------------------------------------
    async def _check(self, raw: str, source: str) -> _Hop:
        """Parse, check and resolve one hop; refuse before anything is sent."""
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchRefused(f"That is not a valid URL; I take {ACCEPTED_URLS}.") from None
        scheme = url.scheme.lower()
        host = url.raw_host.decode("ascii", "replace").rstrip(".").lower()  # IDNA: xn--...
        if not scheme or not host:
            raise FetchRefused(f"That is not a web link; I take {ACCEPTED_URLS}.")
        if scheme not in ("http", "https"):
            raise FetchRefused(f"I do not fetch {scheme}: links; I take {ACCEPTED_URLS}.")
        if url.userinfo:
            raise FetchRefused(
                f"The link to {host} carries a user name or password; I take {ACCEPTED_URLS} "
                "without credentials.",
                host=host,
            )
        patterns = self.policy.hosts.get(source)
        if patterns is not None and not host_allowed(host, patterns):
            raise FetchRefused(
                f"{host} is not a host I fetch {source} files from (only "
                f"{', '.join(patterns) or 'none'}).",
                host=host,
            )
        if is_odd_ipv4(host):
            raise FetchRefused(
                f"{host} is an unusual spelling of an IP address; I take {ACCEPTED_URLS}.",
                host=host,
            )
        plain = scheme == "http" and "http" not in self.policy.schemes
        if (plain and not self.policy.allow_loopback) or (
            scheme == "https" and "https" not in self.policy.schemes
        ):
            raise FetchRefused(
                f"The link to {host} is {scheme}; I only fetch {ACCEPTED_URLS}.", host=host
            )
        addresses = await self._resolve(url, host)
        if plain and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise FetchRefused(
                f"The link to {host} is plain http; I only fetch {ACCEPTED_URLS}.", host=host
            )
        return _Hop(url=url, host=host, addresses=addresses)

    async def _resolve(self, url: httpx.URL, host: str) -> tuple[str, ...]:
        literal = ip_literal(url.host)
        if literal is not None:
            found: list[IPAddress] = [literal]
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                async with asyncio.timeout(self.policy.connect_timeout):
                    answers = await self._resolver(url.raw_host.decode("ascii"), port)
                found = []
                for answer in answers:
                    address = ipaddress.ip_address(answer)
                    if address not in found:
                        found.append(address)
            except (OSError, UnicodeError, TimeoutError, ValueError):
                raise FetchUnavailable(
                    f"Could not find {host} (DNS); check the link.", host=host
                ) from None
        if not found:
            raise FetchUnavailable(f"{host} has no address I can reach.", host=host)
        for address in found:  # one bad answer taints the name: no picking the good one
            why = address_refusal(address, allow_loopback=self.policy.allow_loopback)
            if why is not None:
                shown = host if str(address) == host else f"{host} ({address})"
                raise FetchRefused(
                    f"I will not fetch from {shown}: it is {why}. I only fetch from "
                    f"{ACCEPTED_URLS}.",
                    host=host,
                )
        return tuple(str(a) for a in found)


def _too_large(host: str, cap: int) -> str:
    return f"The file at {host} is larger than {_mb(cap)}; send something smaller."


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size} bytes"
