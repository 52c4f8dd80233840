"""The callback endpoint as the settings ask for it (the composition root calls this): which
verifier, which provider name in the path, and the JWKS hosts the fetcher may reach."""

from __future__ import annotations

from aiohttp import web

from adapters.callback.endpoint import CallbackEndpoint, Hurry
from adapters.callback.server import CallbackServer
from adapters.fetch.fetcher import SafeFetcher
from bot.config import Settings


def fetch_hosts(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The fetch policy's allowlist entry for the provider's key documents (none when off)."""
    kind = settings.callback_kind
    if kind is None:
        return {}
    # The signing libraries load only when callbacks are on (a bot without them starts faster).
    from adapters.callback.jwks import SOURCE  # noqa: PLC0415
    from adapters.callback.kinds import jwks_hosts, jwks_urls  # noqa: PLC0415

    return {SOURCE: jwks_hosts(jwks_urls(kind, settings.google_jwks_url, settings.fal_jwks_url))}


def callback_endpoint(
    settings: Settings, fetcher: SafeFetcher, hurry: Hurry
) -> CallbackEndpoint | None:
    """`POST /callbacks/<provider>` for the configured provider, or None when callbacks are
    off. Raises SystemExit with the setting to fix when they cannot work as configured."""
    kind, audience = settings.callback_kind, settings.callback_endpoint
    if kind is None or audience is None:
        return None
    if settings.callback_port is None and settings.metrics_port is None:
        raise SystemExit(
            "VIDEOBOT_CALLBACK_URL is set but nothing serves /callbacks: set "
            "VIDEOBOT_CALLBACK_PORT (or VIDEOBOT_METRICS_PORT to share the metrics server)"
        )
    from adapters.callback.kinds import verifier  # noqa: PLC0415  (see fetch_hosts)

    secret = settings.callback_secret.get_secret_value() if settings.callback_secret else None
    try:
        checks = verifier(
            kind,
            audience=audience,
            fetcher=fetcher,
            secret=secret,
            google_jwks=settings.google_jwks_url,
            fal_jwks=settings.fal_jwks_url,
        )
    except ValueError as err:
        raise SystemExit(str(err)) from None
    return CallbackEndpoint({settings.provider: checks}, hurry)


def callback_serving(
    settings: Settings, fetcher: SafeFetcher, hurry: Hurry
) -> tuple[CallbackServer | None, list[web.RouteDef]]:
    """Where the endpoint is served: its own server (VIDEOBOT_CALLBACK_PORT), or the routes to
    add to the metrics server; (None, []) when callbacks are off."""
    endpoint = callback_endpoint(settings, fetcher, hurry)
    if endpoint is None:
        return None, []
    if settings.callback_port not in (None, settings.metrics_port):
        port = settings.callback_port or 0
        return CallbackServer(endpoint.routes(), settings.callback_host, port), []
    return None, endpoint.routes()
