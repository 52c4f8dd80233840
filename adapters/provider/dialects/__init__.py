"""The wire formats ("dialects") of the gateways that sell the video model, one module each, and
the registry the composition root picks from by name. Another gateway is one more module here."""

from __future__ import annotations

from adapters.provider.dialects.base import Dialect
from adapters.provider.dialects.google import GoogleDialect
from adapters.provider.dialects.guide import GuideDialect
from adapters.provider.dialects.toapis import ToapisDialect
from adapters.provider.dialects.vertex import VertexDialect

DIALECTS: dict[str, Dialect] = {
    "guide": GuideDialect(),
    "toapis": ToapisDialect(),
    "google": GoogleDialect(),
    "vertex": VertexDialect(),  # the composition root places it: VertexDialect.located()
}
