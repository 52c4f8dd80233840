"""Which wire formats the simulator speaks: `auto` (and `guide`, `toapis`) are served by the
server's own gateway routes; every other provider's routes come from its own module, listed
here by the name `videobot simulate --dialect NAME` takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from adapters.simulator.server import Simulator

GATEWAY_DIALECTS = ("auto", "guide", "toapis")

Speaker = Callable[["Simulator"], list[web.RouteDef]]

SPEAKERS: dict[str, Speaker] = {}


def names() -> tuple[str, ...]:
    return (*GATEWAY_DIALECTS, *SPEAKERS)
