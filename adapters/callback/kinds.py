"""Which verifier a provider's callbacks need, by the profile's `callbacks` kind: `google`
(per-request RS256 JWT against Google's JWKS, and Standard Webhooks HMAC for a static webhook
when its secret is given), `fal` (ED25519 against fal's JWKS), `evolink` (unsigned), `standard`
(Standard Webhooks HMAC: a gateway that takes a `callback_url`, or the simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from adapters.callback.fal import FalVerifier
from adapters.callback.google import GoogleVerifier
from adapters.callback.jwks import JwksCache
from adapters.callback.verify import StandardWebhooks, Unsigned, Verifier
from adapters.fetch.fetcher import SafeFetcher

KINDS = ("google", "fal", "evolink", "standard")


def jwks_urls(kind: str, google_jwks: str, fal_jwks: Sequence[str]) -> tuple[str, ...]:
    """The key documents `kind` reads (their hosts go on the fetcher's allowlist)."""
    return {"google": (google_jwks,), "fal": tuple(fal_jwks)}.get(kind, ())


def jwks_hosts(urls: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted({urlsplit(url).hostname or "" for url in urls} - {""}))


def verifier(
    kind: str,
    *,
    audience: str,
    fetcher: SafeFetcher,
    secret: str | None,
    google_jwks: str,
    fal_jwks: Sequence[str],
) -> Verifier:
    """`audience` is the URL the provider was given (`<callback url>/callbacks/<provider>`).
    Raises ValueError for `standard` without a secret, or a kind this module does not know."""
    if kind == "google":
        keys = JwksCache(fetcher, jwks_urls(kind, google_jwks, fal_jwks))
        static = StandardWebhooks(secret) if secret else None
        return GoogleVerifier([audience], keys, static)
    if kind == "fal":
        return FalVerifier(JwksCache(fetcher, jwks_urls(kind, google_jwks, fal_jwks)))
    if kind == "evolink":
        return Unsigned()
    if kind == "standard":
        if not secret:
            raise ValueError("standard callbacks need VIDEOBOT_CALLBACK_SECRET (whsec_...)")
        return StandardWebhooks(secret)
    raise ValueError(f"no verifier for callbacks of kind {kind!r}; choose one of {KINDS}")
