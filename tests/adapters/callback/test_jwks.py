"""The JWKS cache: fetched through the fetcher, kept for its TTL, fetched early for an unknown
key id at most once per `min_refresh` (forged key ids cannot make us hammer the provider), and
the last good keys kept while the provider's document is out of reach."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.callback.jwks import JwksCache
from adapters.callback.notice import KeysUnavailable
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.simulator import signing


class KeyServer:
    def __init__(self) -> None:
        self.gets = 0
        self.up = True
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.gets += 1
        if not self.up:
            return web.Response(status=500)
        return web.json_response(signing.jwks())


@pytest.fixture
async def keys() -> AsyncIterator[KeyServer]:
    served = KeyServer()
    app = web.Application()
    app.router.add_get("/jwks.json", served.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/jwks.json"  # type: ignore[union-attr]
    yield served
    await runner.cleanup()


async def test_cached_for_the_ttl_and_refreshed_for_unknown_ids_at_most_once_a_minute(
    keys: KeyServer,
) -> None:
    now = [0.0]
    async with SafeFetcher(FetchPolicy(allow_loopback=True)) as fetcher:
        cache = JwksCache(fetcher, [keys.url], ttl=3600, min_refresh=60, monotonic=lambda: now[0])
        assert (await cache.find(signing.GOOGLE_KID)) is not None
        assert (await cache.find(signing.FAL_KID)) is not None
        assert keys.gets == 1
        for forged in range(20):
            assert await cache.find(f"forged-{forged}") is None
        assert keys.gets == 1  # the first try was under a minute ago
        now[0] = 61.0
        assert await cache.find("forged-again") is None
        assert keys.gets == 2
        assert await cache.find("forged-once-more") is None
        assert keys.gets == 2
        now[0] = 3700.0
        await cache.keys()
        assert keys.gets == 3  # the TTL ran out


async def test_the_last_good_keys_stay_while_the_document_is_unreachable(
    keys: KeyServer,
) -> None:
    now = [0.0]
    async with SafeFetcher(FetchPolicy(allow_loopback=True)) as fetcher:
        cold = JwksCache(fetcher, [keys.url], monotonic=lambda: now[0])
        keys.up = False
        with pytest.raises(KeysUnavailable):
            await cold.keys()
        keys.up = True
        warm = JwksCache(fetcher, [keys.url], ttl=10, min_refresh=1, monotonic=lambda: now[0])
        assert len(await warm.keys()) == 2
        keys.up = False
        now[0] = 20.0
        assert len(await warm.keys()) == 2


async def test_a_host_off_the_allowlist_is_never_asked(keys: KeyServer) -> None:
    policy = FetchPolicy(allow_loopback=True, hosts={"jwks": ("keys.example",)})
    async with SafeFetcher(policy) as fetcher:
        with pytest.raises(KeysUnavailable):
            await JwksCache(fetcher, [keys.url]).keys()
    assert keys.gets == 0
