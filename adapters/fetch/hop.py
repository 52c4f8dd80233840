"""What a fetch may reach (`FetchPolicy`), and the check of each hop (the first URL, or a
redirect's target) against it before any byte is sent: its URL, its host and every address that
host resolves to."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from adapters.fetch.addresses import (
    IPAddress,
    Resolver,
    address_refusal,
    host_allowed,
    ip_literal,
    is_odd_ipv4,
)
from adapters.fetch.errors import FetchRefused, FetchUnavailable
from bot.media import MAX_VIDEO_BYTES

ACCEPTED_URLS = "public https addresses"


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


# -- per-hop checks -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hop:
    url: httpx.URL
    host: str
    addresses: tuple[str, ...]


async def check_hop(raw: str, source: str, policy: FetchPolicy, resolver: Resolver) -> Hop:
    """Parse, check and resolve one hop; refuse before anything is sent.

    1. the scheme is https (plain http only to a loopback address, and only under a policy with
       `allow_loopback=True`, which tests and the local simulator use; it is off by default);
    2. the URL carries no credentials, its host is on the source's allowlist when the policy has
       one, and it is not an odd spelling of an IPv4 address (`0x7f.1`, `2130706433`, `0177.1`);
    3. the host is resolved once (`loop.getaddrinfo`) and every address it resolves to must be
       a public one: private, loopback, link-local (cloud metadata at 169.254.169.254), CGNAT,
       multicast, reserved, IPv4-mapped/compatible IPv6 and 6to4/Teredo/NAT64 wrappers around
       such addresses are refused.
    """
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
    patterns = policy.hosts.get(source)
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
    plain = scheme == "http" and "http" not in policy.schemes
    if (plain and not policy.allow_loopback) or (
        scheme == "https" and "https" not in policy.schemes
    ):
        raise FetchRefused(
            f"The link to {host} is {scheme}; I only fetch {ACCEPTED_URLS}.", host=host
        )
    addresses = await _resolve(url, host, policy, resolver)
    if plain and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise FetchRefused(
            f"The link to {host} is plain http; I only fetch {ACCEPTED_URLS}.", host=host
        )
    return Hop(url=url, host=host, addresses=addresses)


async def _resolve(
    url: httpx.URL, host: str, policy: FetchPolicy, resolver: Resolver
) -> tuple[str, ...]:
    literal = ip_literal(url.host)
    if literal is not None:
        found: list[IPAddress] = [literal]
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            async with asyncio.timeout(policy.connect_timeout):
                answers = await resolver(url.raw_host.decode("ascii"), port)
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
        why = address_refusal(address, allow_loopback=policy.allow_loopback)
        if why is not None:
            shown = host if str(address) == host else f"{host} ({address})"
            raise FetchRefused(
                f"I will not fetch from {shown}: it is {why}. I only fetch from {ACCEPTED_URLS}.",
                host=host,
            )
    return tuple(str(a) for a in found)
