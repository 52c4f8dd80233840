"""Which wire formats the simulator speaks: `auto` (and `guide`, `toapis`) are served by the
server's own gateway routes; every other provider's routes come from its own module, listed
here by the name `videobot simulate --dialect NAME` takes, with the body its errors wear."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from adapters.simulator import apimart, evolink, fal, google

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

GATEWAY_DIALECTS = ("auto", "guide", "toapis")
# Paths served without a key and without injected faults: result files and uploads fetched as
# links, a storage origin, and an OAuth token endpoint (which a key cannot be sent to).
OPEN_PATHS = ("/files/", "/uploads/", "/oauth2/")

Speaker = Callable[["Simulator"], list[web.RouteDef]]
ErrorShape = Callable[[int, str, str], web.Response]

SPEAKERS: dict[str, Speaker] = {
    "google": google.google,
    "vertex": google.vertex,
    "apimart": apimart.routes,
    "evolink": evolink.routes,
    "fal": fal.routes,
}

# The error body each speaker's faults (401, 429, 500) wear; the guide's shape otherwise.
ERROR_SHAPES: dict[str, ErrorShape] = {
    "google": google.gemini_error,
    "vertex": google.cloud_error,
    "apimart": apimart.error,
    "evolink": evolink.error,
    "fal": fal.error,
}


def names() -> tuple[str, ...]:
    return (*GATEWAY_DIALECTS, *SPEAKERS)
