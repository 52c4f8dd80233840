"""A workspace removes videobot (app_uninstalled) or revokes its bot token (tokens_revoked):
Bolt's own listeners delete the installation (when workspaces install through OAuth), then the
workspace's live tasks end here, with one log line, since nothing can be shown there any more."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.service import VideoService

log = logging.getLogger("videobot.slack")
_SHOWN = 10  # task refs named in the log line


class Uninstalls:
    def __init__(
        self,
        app: AsyncApp,
        service: VideoService,
        platform: str,
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        """`on_gone`: what else forgets the token (the one SLACK_BOT_TOKEN, when set)."""
        self._app = app
        self._service = service
        self._platform = platform
        self._on_gone = on_gone

    def register(self) -> None:
        self._app.event("app_uninstalled")(self.app_uninstalled)
        self._app.event("tokens_revoked")(self.tokens_revoked)

    async def app_uninstalled(self, context: AsyncBoltContext) -> None:
        if self._app.installation_store is not None:
            await self._app.default_app_uninstalled_event_listener()(context=context)
        await self._end(context, "uninstalled videobot")

    async def tokens_revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        if self._app.installation_store is not None:
            await self._app.default_tokens_revoked_event_listener()(event=event, context=context)
        if (event.get("tokens") or {}).get("bot"):  # user tokens: videobot holds none
            await self._end(context, "revoked videobot's bot token")

    async def _end(self, context: AsyncBoltContext, what: str) -> None:
        if self._on_gone is not None:
            self._on_gone()
        team, org = context.team_id, context.enterprise_id
        grid_wide = bool(context.is_enterprise_install)
        ended = await self._service.end_workspace(
            self._platform, None if grid_wide else team, org
        )
        refs = ", ".join(t.ref for t in ended[:_SHOWN]) + (", ..." if len(ended) > _SHOWN else "")
        where = f"Enterprise Grid organization {org}" if grid_wide else f"workspace {team}"
        log.warning(
            "slack: %s %s; %d live task(s) ended%s and nothing more is sent there",
            where,
            what,
            len(ended),
            f" ({refs})" if refs else "",
        )
