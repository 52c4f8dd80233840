"""The SSRF-safe fetcher against real servers on 127.0.0.1: hostile addresses are refused before
any connection is made, redirects are re-checked hop by hop and lose credentials across
origins, bodies are capped while streaming, and slow servers time out.

Loopback is reachable only through `FetchPolicy(allow_loopback=True)`, the explicit test policy;
every test that expects a refusal also counts connections on a live server to show that nothing
was sent there."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.fetch.addresses import address_refusal, host_allowed, is_odd_ipv4
from adapters.fetch.errors import (
    FetchError,
    FetchRefused,
    FetchStatus,
    FetchTooLarge,
    FetchUnavailable,
)
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.fetch.pinned import PIN_EXTENSION, PinnedTransport, UncheckedAddress
from bot.errors import MediaError

LOOPBACK = FetchPolicy(allow_loopback=True, connect_timeout=2, read_timeout=2, total_timeout=5)
BODY = bytes(range(256)) * 64  # 16 KiB


# -- servers ------------------------------------------------------------------------------------
@dataclass
class Site:
    """An aiohttp app on 127.0.0.1 that records every request it gets."""

    port: int = 0
    requests: list[web.Request] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


Routes = Callable[[Site], list[web.RouteDef]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Site]]]:
    runners: list[web.AppRunner] = []

    async def start(routes: Routes, ssl_context: ssl.SSLContext | None = None) -> Site:
        site = Site()

        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            site.requests.append(request)
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.add_routes(routes(site))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await tcp.start()
        runners.append(runner)
        site.port = runner.addresses[0][1]
        return site

    yield start
    for runner in runners:
        await runner.cleanup()


@dataclass
class RawServer:
    """A bare TCP server speaking whatever HTTP the test scripts, counting connections."""

    port: int = 0
    connections: int = 0


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[RawHandler], Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(script: RawHandler) -> RawServer:
        state = RawServer()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)  # type: ignore[arg-type]
            try:
                await reader.readuntil(b"\r\n\r\n")
                await script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def reply(
    body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, headers=headers)

    return handler


def _files(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()


@pytest.fixture
async def fetcher() -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher(LOOPBACK) as opened:
        yield opened


@pytest.fixture
async def production() -> AsyncIterator[SafeFetcher]:
    async with SafeFetcher() as opened:  # the default policy: no loopback, https only
        yield opened


# -- address rules, as pure functions -----------------------------------------------------------
REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "224.0.0.1",  # multicast (is_global says True in Python 3.11)
    "255.255.255.255",
    "198.18.0.1",
    "192.0.2.10",
    "240.0.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:8.8.8.8",  # mapped is refused outright, even around a public address
    "::127.0.0.1",  # IPv4-compatible (is_global says True)
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1 (is_global says True)
    "2002:a9fe:a9fe::",  # 6to4 around the metadata address
    "64:ff9b::a9fe:a9fe",  # NAT64 around the metadata address (is_global says True)
    "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2002:808:808::1"]


@pytest.mark.parametrize("text", REFUSED)
def test_non_public_addresses_are_refused(text: str) -> None:
    assert address_refusal(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert address_refusal(ipaddress.ip_address(text)) is None


def test_the_test_policy_opens_loopback_and_nothing_else() -> None:
    for text in ("127.0.0.1", "127.0.0.53", "::1"):
        assert address_refusal(ipaddress.ip_address(text), allow_loopback=True) is None
    for text in ("::ffff:127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "fe80::1"):
        assert address_refusal(ipaddress.ip_address(text), allow_loopback=True) is not None


def test_refusal_reasons_name_the_kind_of_address() -> None:
    def why(text: str) -> str:
        return address_refusal(ipaddress.ip_address(text)) or ""

    assert "link-local" in why("169.254.169.254")
    assert "carrier-grade NAT" in why("100.64.0.1")
    assert "IPv4-mapped" in why("::ffff:10.0.0.1")
    assert "loopback" in why("127.0.0.1")
    assert "private" in why("192.168.0.1")


@pytest.mark.parametrize(
    "host",
    ["0x7f.1", "2130706433", "017700000001", "127.1", "0177.0.0.1", "0x7f000001", "0x7f.0.0.1"],
)
def test_odd_ipv4_spellings_are_recognised(host: str) -> None:
    assert is_odd_ipv4(host)


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "dead.beef", "1.2.3.4", "0x.com", "a1"])
def test_names_and_plain_addresses_are_not_odd(host: str) -> None:
    assert not is_odd_ipv4(host)


def test_host_allowlist_patterns() -> None:
    assert host_allowed("files.slack.com", ("files.slack.com",))
    assert host_allowed("FILES.slack.com.", ("files.slack.com",))
    assert not host_allowed("files.slack.com.evil.net", ("files.slack.com",))
    assert host_allowed("a.b.example.com", ("*.example.com",))
    assert not host_allowed("example.com", ("*.example.com",))
    assert not host_allowed("badexample.com", ("*.example.com",))


# -- refusals before connecting -----------------------------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        "http://0x7f.1:{port}/",
        "http://2130706433:{port}/",
        "http://017700000001:{port}/",
        "http://127.1:{port}/",
        "http://0x7f000001:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[::ffff:7f00:1]:{port}/",
        "http://user:secret@127.0.0.1:{port}/",
    ],
)
async def test_disguised_loopback_is_refused_even_under_the_test_policy(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher, template: str
) -> None:
    server = await raw(_silent)
    with pytest.raises(FetchRefused) as caught:
        await fetcher.fetch_bytes(template.format(port=server.port))
    assert "public https" in str(caught.value)  # says what is accepted
    assert server.connections == 0
    # ...while the plain spelling does reach the server under the test policy (the test can fail)
    ok = await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/")
    assert ok.data == b"ok" and server.connections == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:{port}/",
        "https://localhost:{port}/",  # a name that resolves to loopback
        "https://[::1]:{port}/",
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
    ],
)
async def test_production_policy_refuses_loopback_before_connecting(
    raw: Callable[[RawHandler], Awaitable[RawServer]], production: SafeFetcher, url: str
) -> None:
    server = await raw(_silent)
    with pytest.raises(FetchRefused) as caught:
        await production.fetch_bytes(url.format(port=server.port))
    assert server.connections == 0
    message = str(caught.value)
    assert "loopback" in message or "plain http" in message or "is http" in message
    assert "public https addresses" in message


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://100.64.0.1/", "carrier-grade NAT"),
        ("https://10.1.2.3/", "private"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fe80::1%25eth0]/", "link-local"),
        ("https://[fd00:ec2::254]/", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/", "wrapping 169.254.169.254"),
        ("ftp://example.com/x.png", "public https"),
        ("file:///etc/passwd", "public https"),
        ("gopher://example.com/", "public https"),
        ("http://example.invalid/x.png", "public https"),  # refused before any DNS lookup
        ("not a url", "public https"),
    ],
)
async def test_hostile_urls_are_refused_with_a_reason(
    production: SafeFetcher, url: str, words: str
) -> None:
    started = time.monotonic()
    with pytest.raises(FetchRefused) as caught:
        await production.fetch_bytes(url)
    assert words in str(caught.value)
    assert time.monotonic() - started < 1  # refused on the spot, not after a connect timeout


async def test_refusals_are_media_errors_without_the_url_query(production: SafeFetcher) -> None:
    with pytest.raises(MediaError) as caught:
        await production.fetch_bytes("https://10.0.0.7/file.png?signature=SECRET-SIG")
    assert isinstance(caught.value, FetchError)
    assert "SECRET-SIG" not in str(caught.value)


async def test_source_allowlist_applies(
    serve: Callable[[Routes], Awaitable[Site]],
) -> None:
    site = await serve(lambda s: [web.get("/f", reply(body=b"file"))])
    policy = FetchPolicy(
        allow_loopback=True, hosts={"slack": ("files.slack.com",), "sim": ("localhost",)}
    )
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchRefused, match="not a host I fetch slack files from"):
            await fetcher.fetch_bytes(site.url("/f", host="localhost"), source="slack")
        assert site.requests == []
        got = await fetcher.fetch_bytes(site.url("/f", host="localhost"), source="sim")
        assert got.data == b"file"
        unlisted = await fetcher.fetch_bytes(site.url("/f"), source="other")
        assert unlisted.data == b"file"


async def test_pinned_transport_refuses_unchecked_requests() -> None:
    transport = PinnedTransport()
    with pytest.raises(UncheckedAddress):
        await transport.handle_async_request(httpx.Request("GET", "https://example.com/"))
    bad = httpx.Request("GET", "https://example.com/", extensions={PIN_EXTENSION: "nope"})
    with pytest.raises(UncheckedAddress):
        await transport.handle_async_request(bad)


# -- the happy path -----------------------------------------------------------------------------
async def test_fetch_to_file_streams_to_disk_and_keeps_the_host_header(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher, tmp_path: Path
) -> None:
    site = await serve(lambda s: [web.get("/v.mp4", reply(body=BODY))])
    dest = tmp_path / "v.mp4"
    result = await fetcher.fetch_to_file(site.url("/v.mp4", host="localhost"), dest)
    assert dest.read_bytes() == BODY
    assert result.size == len(BODY) and result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert result.path == dest and result.address == "127.0.0.1" and result.redirects == 0
    assert _files(tmp_path) == [dest]  # no temp file left
    (request,) = site.requests
    assert request.host == f"localhost:{site.port}"  # connected to the IP, Host kept
    assert request.headers.get("Accept-Encoding") == "identity"


async def test_cookies_are_never_kept_between_fetches(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher
) -> None:
    def routes(site: Site) -> list[web.RouteDef]:
        async def give(request: web.Request) -> web.Response:
            response = web.Response(body=b"x")
            response.set_cookie("session", "tracking")
            return response

        return [web.get("/", give)]

    site = await serve(routes)
    await fetcher.fetch_bytes(site.url())
    await fetcher.fetch_bytes(site.url())
    assert [r.cookies.get("session") for r in site.requests] == [None, None]


# -- redirects ----------------------------------------------------------------------------------
def _redirect_to(target: Callable[[], str], status: int = 302) -> Routes:
    def routes(site: Site) -> list[web.RouteDef]:
        async def hop(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": target()})

        return [web.get("/start", hop)]

    return routes


@pytest.mark.parametrize(
    "template",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:127.0.0.1]:{port}/x",
        "http://0x7f.1:{port}/x",
        "http://2130706433:{port}/x",
        "http://10.0.0.1:{port}/x",
        "file:///etc/passwd",
    ],
)
async def test_a_redirect_to_a_refused_address_is_refused(
    serve: Callable[[Routes], Awaitable[Site]],
    raw: Callable[[RawHandler], Awaitable[RawServer]],
    fetcher: SafeFetcher,
    template: str,
) -> None:
    target = await raw(_silent)
    site = await serve(_redirect_to(lambda: template.format(port=target.port)))
    with pytest.raises(FetchRefused, match="Refused a redirect from 127.0.0.1"):
        await fetcher.fetch_bytes(site.url("/start"))
    assert len(site.requests) == 1 and target.connections == 0


async def test_a_redirect_off_the_source_allowlist_is_refused(
    serve: Callable[[Routes], Awaitable[Site]],
) -> None:
    other = await serve(lambda s: [web.get("/x", reply(body=b"x"))])
    site = await serve(_redirect_to(lambda: other.url("/x")))
    policy = FetchPolicy(allow_loopback=True, hosts={"slack": ("localhost",)})
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchRefused, match="not a host I fetch slack files from"):
            await fetcher.fetch_bytes(site.url("/start", host="localhost"), source="slack")
    assert other.requests == []


async def test_credentials_do_not_follow_a_redirect_to_another_origin(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher
) -> None:
    other = await serve(lambda s: [web.get("/x", reply(body=b"elsewhere"))])
    site = await serve(_redirect_to(lambda: other.url("/x", host="localhost"), status=307))
    secret = {"Authorization": "Bearer xoxb-secret", "Cookie": "s=1", "X-Api-Key": "k"}
    got = await fetcher.fetch_bytes(site.url("/start"), headers=secret)
    assert got.data == b"elsewhere" and got.redirects == 1
    assert site.requests[0].headers.get("Authorization") == "Bearer xoxb-secret"
    (seen,) = other.requests
    for name in secret:
        assert name not in seen.headers, name


async def test_credentials_stay_dropped_when_a_redirect_comes_back(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher
) -> None:
    home: list[Site] = []
    other = await serve(_redirect_to(lambda: home[0].url("/final")))

    def routes(site: Site) -> list[web.RouteDef]:
        async def start(request: web.Request) -> web.Response:
            return web.Response(status=302, headers={"Location": other.url("/start")})

        return [web.get("/start", start), web.get("/final", reply(body=b"f"))]

    home.append(await serve(routes))
    got = await fetcher.fetch_bytes(home[0].url("/start"), headers={"Authorization": "Bearer t"})
    assert got.data == b"f" and got.redirects == 2
    assert [r.headers.get("Authorization") for r in home[0].requests] == ["Bearer t", None]
    assert other.requests[0].headers.get("Authorization") is None


async def test_credentials_follow_a_same_origin_redirect(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher
) -> None:
    def routes(site: Site) -> list[web.RouteDef]:
        async def start(request: web.Request) -> web.Response:
            return web.Response(status=301, headers={"Location": "/final"})  # relative

        return [web.get("/start", start), web.get("/final", reply(body=b"f"))]

    site = await serve(routes)
    got = await fetcher.fetch_bytes(site.url("/start"), headers={"Authorization": "Bearer t"})
    assert got.data == b"f"
    assert [r.headers.get("Authorization") for r in site.requests] == ["Bearer t", "Bearer t"]


async def test_redirect_loops_end(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher
) -> None:
    site = await serve(_redirect_to(lambda: "/start"))
    with pytest.raises(FetchRefused, match="redirected more than 5 times"):
        await fetcher.fetch_bytes(site.url("/start"))
    assert len(site.requests) == 6


# -- statuses -----------------------------------------------------------------------------------
async def test_error_statuses_are_typed(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher, tmp_path: Path
) -> None:
    def routes(site: Site) -> list[web.RouteDef]:
        return [
            web.get("/gone", reply(status=404, body=b"nope")),
            web.get("/slow", reply(status=429, headers={"Retry-After": "7"})),
        ]

    site = await serve(routes)
    with pytest.raises(FetchStatus) as gone:
        await fetcher.fetch_to_file(site.url("/gone"), tmp_path / "x")
    assert gone.value.status == 404 and not _files(tmp_path)
    with pytest.raises(FetchStatus) as slow:
        await fetcher.fetch_bytes(site.url("/slow"))
    assert slow.value.status == 429 and slow.value.retry_after == "7"


# -- byte caps ----------------------------------------------------------------------------------
async def test_cap_holds_without_content_length(
    serve: Callable[[Routes], Awaitable[Site]], fetcher: SafeFetcher, tmp_path: Path
) -> None:
    sent: list[int] = []

    def routes(site: Site) -> list[web.RouteDef]:
        async def flood(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()  # chunked: no Content-Length
            await response.prepare(request)
            try:
                for _ in range(64):
                    await response.write(BODY)
                    sent.append(len(BODY))
            except ConnectionError:
                pass
            return response

        return [web.get("/", flood)]

    site = await serve(routes)
    with pytest.raises(FetchTooLarge) as caught:
        await fetcher.fetch_to_file(site.url(), tmp_path / "big.mp4", max_bytes=50_000)
    assert caught.value.limit == 50_000
    assert "larger than 50000 bytes" in str(caught.value)
    assert not _files(tmp_path)  # neither the file nor its temp survives


async def test_cap_holds_on_a_close_delimited_body(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher
) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        for _ in range(200):  # 3.2 MB, far past the cap, no length announced
            writer.write(BODY)
            await writer.drain()

    server = await raw(endless)
    with pytest.raises(FetchTooLarge):
        await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/", max_bytes=100_000)


async def test_a_declared_length_over_the_cap_is_refused_up_front(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher
) -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n" + BODY)
        await writer.drain()

    server = await raw(huge)
    with pytest.raises(FetchTooLarge):
        await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/", max_bytes=100_000)


async def test_a_body_longer_than_its_content_length_is_cut_at_the_length(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher, tmp_path: Path
) -> None:
    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + BODY * 10)
        await writer.drain()

    server = await raw(liar)
    dest = tmp_path / "f"
    result = await fetcher.fetch_to_file(f"http://127.0.0.1:{server.port}/", dest, max_bytes=1000)
    assert result.size == 100 and dest.stat().st_size == 100


async def test_a_short_body_is_not_kept(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher, tmp_path: Path
) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + BODY[:10])
        await writer.drain()

    server = await raw(short)
    with pytest.raises(FetchUnavailable, match="broke off"):
        await fetcher.fetch_to_file(f"http://127.0.0.1:{server.port}/", tmp_path / "f")
    assert not _files(tmp_path)


async def test_compressed_bodies_are_refused(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher
) -> None:
    async def gzip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()

    server = await raw(gzip)
    with pytest.raises(FetchRefused, match="compressed"):
        await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/")


async def test_policy_cap_bounds_the_callers_cap(
    serve: Callable[[Routes], Awaitable[Site]],
) -> None:
    site = await serve(lambda s: [web.get("/", reply(body=BODY))])
    policy = FetchPolicy(allow_loopback=True, max_bytes=1000)
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchTooLarge):
            await fetcher.fetch_bytes(site.url(), max_bytes=10**9)


# -- timeouts -----------------------------------------------------------------------------------
async def test_a_server_that_never_answers_times_out(
    raw: Callable[[RawHandler], Awaitable[RawServer]],
) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    server = await raw(mute)
    policy = FetchPolicy(allow_loopback=True, read_timeout=0.2, total_timeout=5)
    started = time.monotonic()
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchUnavailable, match="did not answer in time"):
            await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/")
    assert time.monotonic() - started < 2


async def test_a_trickling_server_hits_the_overall_deadline(
    raw: Callable[[RawHandler], Awaitable[RawServer]], tmp_path: Path
) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:  # one byte at a time, each well inside the read timeout
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.01)

    server = await raw(trickle)
    policy = FetchPolicy(allow_loopback=True, read_timeout=2, total_timeout=0.3)
    started = time.monotonic()
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchUnavailable, match=r"took longer than 0\.3s"):
            await fetcher.fetch_to_file(f"http://127.0.0.1:{server.port}/", tmp_path / "f")
    assert time.monotonic() - started < 2
    assert not _files(tmp_path)


async def test_a_stalled_body_hits_the_read_timeout(
    raw: Callable[[RawHandler], Awaitable[RawServer]],
) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.Event().wait()

    server = await raw(stall)
    policy = FetchPolicy(allow_loopback=True, read_timeout=0.2, total_timeout=5)
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(FetchUnavailable, match="stopped sending"):
            await fetcher.fetch_bytes(f"http://127.0.0.1:{server.port}/")


async def test_a_closed_port_is_unavailable_not_refused(
    raw: Callable[[RawHandler], Awaitable[RawServer]], fetcher: SafeFetcher
) -> None:
    server = await raw(_silent)
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    assert port != server.port
    with pytest.raises(FetchUnavailable, match="Could not connect"):
        await fetcher.fetch_bytes(f"http://127.0.0.1:{port}/")
    assert server.connections == 0


# -- TLS: connect to the IP, verify the certificate for the name --------------------------------
@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_goes_to_the_checked_ip_with_the_hosts_sni_and_certificate(
    serve: Callable[..., Awaitable[Site]], tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    site = await serve(lambda s: [web.get("/v", reply(body=b"secure"))], server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    async with SafeFetcher(LOOPBACK, verify=client_ctx) as fetcher:
        got = await fetcher.fetch_bytes(site.url("/v", host="localhost", scheme="https"))
        assert got.data == b"secure" and got.address == "127.0.0.1"
        assert names == ["localhost"]
        assert site.requests[0].host == f"localhost:{site.port}"
        # the certificate is for "localhost": the bare IP does not match it, so verification is on
        with pytest.raises(FetchUnavailable):
            await fetcher.fetch_bytes(site.url("/v", host="127.0.0.1", scheme="https"))
    async with SafeFetcher(LOOPBACK) as untrusting:  # the system CAs do not know our cert
        with pytest.raises(FetchUnavailable):
            await untrusting.fetch_bytes(site.url("/v", host="localhost", scheme="https"))


async def test_the_transport_connects_to_the_pinned_address_not_the_name(
    serve: Callable[..., Awaitable[Site]],
) -> None:
    site = await serve(lambda s: [web.get("/p", reply(body=b"pinned"))])
    async with httpx.AsyncClient(transport=PinnedTransport(), trust_env=False) as client:
        request = client.build_request(
            "GET",
            f"http://no-such-host.invalid:{site.port}/p",  # DNS would fail for this name
            extensions={PIN_EXTENSION: "127.0.0.1"},
        )
        response = await client.send(request)
    assert response.content == b"pinned"
    assert site.requests[0].host == f"no-such-host.invalid:{site.port}"


# -- resolution: once per hop, every answer checked, the checked answer used ---------------------
class ScriptedResolver:
    """A DNS stand-in (the fetcher's resolver hook) that answers from a script, counting calls."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


async def test_one_private_answer_taints_the_whole_name(
    raw: Callable[[RawHandler], Awaitable[RawServer]],
) -> None:
    server = await raw(_silent)
    resolver = ScriptedResolver(["127.0.0.1", "10.0.0.8"])
    async with SafeFetcher(LOOPBACK, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match=r"cdn\.example\.com \(10\.0\.0\.8\).*private"):
            await fetcher.fetch_bytes(f"http://cdn.example.com:{server.port}/")
    assert server.connections == 0


async def test_a_name_is_resolved_once_and_the_checked_address_is_used(
    serve: Callable[..., Awaitable[Site]],
) -> None:
    site = await serve(lambda s: [web.get("/v", reply(body=b"video"))])
    # a rebinding DNS: the first answer passes the check, any later one points at metadata
    resolver = ScriptedResolver(["127.0.0.1"], ["169.254.169.254"])
    async with SafeFetcher(LOOPBACK, resolver=resolver) as fetcher:
        got = await fetcher.fetch_bytes(f"http://cdn.example.com:{site.port}/v")
    assert got.data == b"video" and got.address == "127.0.0.1"
    assert resolver.calls == ["cdn.example.com"]
    assert site.requests[0].host == f"cdn.example.com:{site.port}"


async def test_every_redirect_hop_is_resolved_and_checked_again(
    serve: Callable[..., Awaitable[Site]],
) -> None:
    final = await serve(lambda s: [web.get("/x", reply(body=b"x"))])
    site = await serve(_redirect_to(lambda: f"http://storage.example.net:{final.port}/x"))
    resolver = ScriptedResolver(["127.0.0.1"], ["169.254.169.254"])
    async with SafeFetcher(LOOPBACK, resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match="Refused a redirect from cdn.example.com"):
            await fetcher.fetch_bytes(f"http://cdn.example.com:{site.port}/start")
    assert resolver.calls == ["cdn.example.com", "storage.example.net"]
    assert final.requests == []


async def test_scoped_link_local_answers_are_refused() -> None:
    resolver = ScriptedResolver(["fe80::1%2"])
    async with SafeFetcher(resolver=resolver) as fetcher:
        with pytest.raises(FetchRefused, match="link-local"):
            await fetcher.fetch_bytes("https://printer.example.com/")


async def test_dns_failure_is_unavailable_not_refused() -> None:
    async def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with SafeFetcher(resolver=nxdomain) as fetcher:
        with pytest.raises(FetchUnavailable, match="Could not find nowhere.example"):
            await fetcher.fetch_bytes("https://nowhere.example/")
