"""One download of a result through the SSRF-safe fetcher, under a total time limit, with the
fetcher's failures mapped onto the provider error tree (and their text cleaned of secrets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from adapters.fetch.errors import FetchRefused, FetchStatus, FetchTooLarge, FetchUnavailable
from adapters.fetch.fetcher import SafeFetcher
from adapters.provider.answer import retry_after
from bot.errors import (
    ProviderError,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    ResultExpired,
)


async def fetch_result(  # noqa: PLR0913 (each one a different knob of one download)
    fetcher: SafeFetcher,
    url: str,
    dest: Path,
    *,
    headers: Mapping[str, str],
    cap: int,
    limit: float,
    redact: Callable[[str], str],
) -> int:
    """The result URL comes from the provider, so it may not lead anywhere private; each
    redirect hop is checked the same way and the key is dropped once a redirect leaves the
    API's origin. Returns the byte count."""
    try:
        async with asyncio.timeout(limit):
            result = await fetcher.fetch_to_file(
                url, dest, max_bytes=cap, headers=headers, source="provider"
            )
    except TimeoutError:
        raise ProviderTransient(f"the download did not complete within {limit:g}s") from None
    except FetchTooLarge as err:
        raise ProviderError(redact(str(err)), code="too_large") from None
    except FetchStatus as err:
        status = err.status
        if status in (403, 404, 410):
            raise ResultExpired(f"the result link answered {status}") from None
        if status == 429:
            wait = retry_after(httpx.Headers({"retry-after": err.retry_after or ""}))
            raise RateLimited("the result host is rate limiting", retry_after=wait) from None
        if status >= 500 or status == 408:
            raise ProviderTransient(f"the result link answered {status}") from None
        raise ProviderRejected(f"the result link answered {status}") from None
    except FetchUnavailable as err:
        raise ProviderTransient(redact(str(err))) from None
    except FetchRefused as err:
        raise ProviderRejected(redact(str(err)), code="refused") from None
    return result.size
