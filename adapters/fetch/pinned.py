"""The transport that sends each request to an address checked beforehand, never to whatever
the URL's host resolves to at connect time (DNS rebinding), with Host and TLS SNI unchanged."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx

from adapters.fetch.addresses import ip_literal
from bot.errors import MediaError

PIN_EXTENSION = "videobot.pinned_address"


class UncheckedAddress(MediaError):
    """A request reached the transport without a checked address: a bug, refused."""


class _ClosingStream(httpx.AsyncByteStream):
    """A response body that closes its one-shot transport when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream, transport: httpx.AsyncHTTPTransport) -> None:
        self._inner = inner
        self._transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            await self._transport.aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each request to the IP address in its `PIN_EXTENSION`, never to whatever the
    URL's host resolves to now. The Host header and the TLS server name (SNI, and so the
    certificate check) stay the URL's host. A request without a pinned address is refused.

    Each request gets its own connection (a one-shot httpcore pool): a pool keyed by IP address
    could otherwise hand a TLS connection verified for one host name to a request for another.
    """

    def __init__(self, verify: ssl.SSLContext | None = None) -> None:
        self._ssl = verify or httpx.create_ssl_context(trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pinned = request.extensions.get(PIN_EXTENSION)
        if not isinstance(pinned, str) or ip_literal(pinned) is None:
            raise UncheckedAddress("Refused a request whose address was not checked first.")
        extensions = {k: v for k, v in request.extensions.items() if k != PIN_EXTENSION}
        host = request.url.raw_host.decode("ascii")
        if request.url.scheme == "https" and ip_literal(host) is None:
            extensions["sni_hostname"] = host.rstrip(".")
        routed = httpx.Request(
            request.method,
            request.url.copy_with(host=pinned),
            headers=request.headers,  # already holds Host: <the URL's host>
            stream=request.stream,
            extensions=extensions,
        )
        transport = httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False, retries=0)
        try:
            response = await transport.handle_async_request(routed)
        except BaseException:
            await transport.aclose()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ClosingStream(response.stream, transport),
            extensions=response.extensions,
        )
