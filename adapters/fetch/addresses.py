"""Which addresses and host names the fetcher may reach: pure checks (no I/O) plus the one
resolver it uses. Public addresses only; every IPv6 spelling that wraps an IPv4 address and every
odd spelling of an IPv4 address is seen through."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
# What inet_aton() accepts as one part of an IPv4 address: decimal, octal (leading 0) or hex.
_INET_ATON_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be fetched from, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return inner
        if address.scope_id:
            return "a scoped (link-local) IPv6 address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> str | None:
    """IPv6 spellings that carry an IPv4 address: refused outright (mapped/compatible) or
    refused when the IPv4 address inside is not public (6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "an IPv4-compatible IPv6 address"
    inner: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address.teredo is not None:
        inner.extend(address.teredo)
    if any(address in net for net in _NAT64):
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for v4 in inner:
        why = address_refusal(v4)
        if why is not None:
            return f"an IPv6 address wrapping {v4}, {why}"
    return None


def is_odd_ipv4(host: str) -> bool:
    """Whether `host` is an IPv4 address in a spelling other than a.b.c.d in decimal, which
    resolvers still accept (`0x7f.1`, `2130706433`, `017700000001`, `127.1`)."""
    host = host.rstrip(".").lower()
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.match(part) for part in parts):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.rstrip(".").lower()
    for pattern in patterns:
        pattern = pattern.rstrip(".").lower()  # noqa: PLW2901
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.rstrip(".") if ":" not in host else host)
    except ValueError:
        return None


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (
        url.scheme,
        url.raw_host.decode("ascii", "replace").rstrip(".").lower(),
        url.port or default,
    )


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """Every TCP address the system resolver gives for `host`, in its preferred order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    found: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family == socket.AF_INET:
            found.append(str(sockaddr[0]))
        elif family == socket.AF_INET6 and len(sockaddr) == 4:
            text, scope = str(sockaddr[0]), sockaddr[3]
            if scope and "%" not in text:  # a scope id marks a link-local answer: keep it
                text = f"{text}%{scope}"
            found.append(text)
    return found
