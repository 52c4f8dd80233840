"""The wire formats ("dialects") of the gateways that sell the video model, one module each, and
the registry the composition root picks from by name. Another gateway is one more module here."""

from __future__ import annotations

from adapters.provider.dialects.apimart import ApimartDialect
from adapters.provider.dialects.base import Dialect
from adapters.provider.dialects.evolink import EvolinkDialect
from adapters.provider.dialects.fal import FalDialect
from adapters.provider.dialects.google import GoogleDialect
from adapters.provider.dialects.guide import GuideDialect
from adapters.provider.dialects.toapis import ToapisDialect
from adapters.provider.dialects.vertex import VertexDialect

DIALECTS: dict[str, Dialect] = {
    "guide": GuideDialect(),
    "toapis": ToapisDialect(),
    "google": GoogleDialect(),
    "vertex": VertexDialect(),  # the composition root places it: wiring.vertex_setup()
    "apimart": ApimartDialect(),
    "evolink": EvolinkDialect(),
    "fal": FalDialect(),
}


def dialect_for(name: str, model: str) -> Dialect:
    """The dialect `name` for the configured model id. fal polls under the model's own
    owner/app, so a model other than the default needs a dialect of its own."""
    if name == "fal":
        return FalDialect(model)
    return DIALECTS[name]
