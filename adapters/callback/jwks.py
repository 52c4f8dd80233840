"""A provider's published public keys (JWKS), fetched through the SSRF-safe fetcher (its host
allowlisted under the `jwks` source), kept for a TTL, and fetched again early only when a key
is missing, at most once a minute, so forged key ids cannot make us hammer the provider."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import jwt
from jwt import PyJWK, PyJWKSet

from adapters.callback.notice import CallbackRefused, KeysUnavailable, parse_json
from adapters.fetch.errors import FetchError
from adapters.fetch.fetcher import SafeFetcher

log = logging.getLogger("videobot.callback")

SOURCE = "jwks"  # the fetch policy's allowlist name
MAX_JWKS_BYTES = 64 * 1024


class JwksCache:
    def __init__(
        self,
        fetcher: SafeFetcher,
        urls: Sequence[str],
        *,
        ttl: float = 3600.0,
        min_refresh: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`urls`: one or more JWKS documents whose keys are all accepted (fal's address
        differs between sources, so both are read)."""
        self._fetcher = fetcher
        self._urls = tuple(urls)
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._monotonic = monotonic
        self._keys: list[PyJWK] = []
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()

    async def keys(self, refresh: bool = False) -> list[PyJWK]:
        """The keys, fetched when missing or older than the TTL, or with `refresh` when the
        last try is at least `min_refresh` old. Raises KeysUnavailable when there are none."""
        if self._wanted(refresh):
            async with self._lock:
                if self._wanted(refresh):  # another request may have fetched meanwhile
                    await self._load()
        if not self._keys:
            raise KeysUnavailable
        return self._keys

    async def find(self, kid: str) -> PyJWK | None:
        """The key with id `kid`, fetching the set again (rate-limited) if it is not known."""
        for refresh in (False, True):
            found = next((k for k in await self.keys(refresh) if k.key_id == kid), None)
            if found is not None:
                return found
        return None

    def _wanted(self, refresh: bool) -> bool:
        now = self._monotonic()
        if self._tried_at is not None and now - self._tried_at < self._min_refresh:
            return False
        return self._fetched_at is None or refresh or now - self._fetched_at >= self._ttl

    async def _load(self) -> None:
        self._tried_at = self._monotonic()
        keys: list[PyJWK] = []
        read = 0
        for url in self._urls:
            try:
                fetched = await self._fetcher.fetch_bytes(
                    url, max_bytes=MAX_JWKS_BYTES, source=SOURCE
                )
                keys.extend(PyJWKSet.from_dict(parse_json(fetched.data or b"")).keys)
                read += 1
            except (FetchError, CallbackRefused, jwt.PyJWTError, ValueError, TypeError) as err:
                # The fetcher's message names the host, never a signed query.
                log.warning("could not read the provider's public keys: %s", _why(err))
        if read:
            self._keys, self._fetched_at = keys, self._tried_at
        # Else the keys held so far stay in use until a fetch works again.


def _why(err: Exception) -> str:
    return str(err) if isinstance(err, FetchError) else type(err).__name__
