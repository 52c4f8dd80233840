"""The installation a Slack request came from (its bot token, its Enterprise Grid org), as
Bolt's authorization resolved it: a middleware records it for the request's listener, which
Bolt runs in a task that inherits the request's context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse


@dataclass(frozen=True, slots=True)
class Installed:
    bot_token: str | None
    enterprise_id: str | None


_current: ContextVar[Installed | None] = ContextVar("videobot_slack_installed", default=None)


def current() -> Installed | None:
    """The installation of the request being handled; None outside a request."""
    return _current.get()


def enterprise_id() -> str | None:
    """The Enterprise Grid org of the request being handled; None outside Grid or a request."""
    installed = _current.get()
    return installed.enterprise_id if installed is not None else None


async def remember(
    context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse]]  # noqa: A002 (Bolt's name)
) -> BoltResponse:
    """Bolt global middleware: runs after authorization, before the listener."""
    _current.set(Installed(context.bot_token, context.enterprise_id))
    return await next()
