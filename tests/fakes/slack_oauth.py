"""The fake Slack's side of distribution: workspaces and their bot tokens (auth.test answers per
token), the authorize page where a user picks a workspace and allows the install, and
oauth.v2.access for both grants (an install's code, a rotating token's refresh token, which
Slack takes once)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

CLIENT_ID = "1000000000.2000000000"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
TWELVE_HOURS = 43_200


@dataclass
class Workspace:
    team_id: str
    bot_user_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    name: str = "Test"


class OAuthMethods:
    """`tokens` maps every live bot token to its workspace; `refresh_tokens` the unspent
    refresh tokens; `refreshes` every refresh token presented, in order (spent or not)."""

    redirect_uri = ""  # the app's Redirect URL, as configured on api.slack.com
    rotating = False  # token rotation on: installs get expiring tokens and a refresh token
    install_expires_in = TWELVE_HOURS  # seconds an installed rotating token lives
    tokens: dict[str, Workspace]

    def _start_oauth(self, default_token: str, default: Workspace) -> None:
        self.tokens = {default_token: default}
        self.refresh_tokens: dict[str, Workspace] = {}
        self.refreshes: list[str] = []
        self._codes: dict[str, Workspace] = {}
        self._serial = itertools.count(1)

    def workspace_of(self, auth: str | None) -> Workspace | None:
        if auth is None or not auth.startswith("Bearer "):
            return None
        return self.tokens.get(auth.removeprefix("Bearer "))

    def token_of(self, team_id: str) -> list[str]:
        """Every bot token (oldest first) ever issued to `team_id` and still live."""
        return [t for t, w in self.tokens.items() if w.team_id == team_id]

    def revoke(self, team_id: str) -> None:
        """Slack's side of an uninstall: the workspace's tokens stop working."""
        for token in self.token_of(team_id):
            del self.tokens[token]
        for token, space in list(self.refresh_tokens.items()):
            if space.team_id == team_id:
                del self.refresh_tokens[token]

    # -- the authorize page ------------------------------------------------------------------
    async def _authorize(self, request: web.Request) -> web.Response:
        """A user in workspace `team` (a query knob standing for their click) allows the
        install: Slack redirects to the app's Redirect URL with a one-time code."""
        query = request.query
        if query.get("client_id") != CLIENT_ID:
            return web.Response(status=400, text="invalid_client_id")
        team = query.get("team", "T0TEAM")
        org = query.get("enterprise") or None
        space = Workspace(team, f"U0BOT{team}", org, query.get("org_wide") == "1")
        code = f"code-{next(self._serial)}"
        self._codes[code] = space
        where = query.get("redirect_uri") or self.redirect_uri
        raise web.HTTPFound(f"{where}?{urlencode({'code': code, 'state': query['state']})}")

    # -- oauth.v2.access ---------------------------------------------------------------------
    def oauth_access(self, auth: str | None, params: dict[str, Any]) -> dict[str, Any]:
        if not _client_authenticated(auth, params):
            return {"ok": False, "error": "invalid_client_id"}
        if params.get("grant_type") == "refresh_token":
            spent = str(params.get("refresh_token") or "")
            self.refreshes.append(spent)
            space = self.refresh_tokens.pop(spent, None)
            if space is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            return self._issue(space, TWELVE_HOURS)
        space = self._codes.pop(str(params.get("code") or ""), None)
        if space is None:
            return {"ok": False, "error": "invalid_code"}
        return self._issue(space, self.install_expires_in)

    def _issue(self, space: Workspace, expires_in: int) -> dict[str, Any]:
        serial = next(self._serial)
        kind = "xoxe.xoxb" if self.rotating else "xoxb"
        token = f"{kind}-{space.team_id}-{serial}-fake"
        self.tokens[token] = space
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": "A0APP",
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write,files:write,files:read",
            "bot_user_id": space.bot_user_id,
            "team": None if space.is_enterprise_install else {"id": space.team_id},
            "enterprise": {"id": space.enterprise_id} if space.enterprise_id else None,
            "is_enterprise_install": space.is_enterprise_install,
            "authed_user": {"id": "U0INSTALLER"},
        }
        if self.rotating:
            refresh = f"xoxe-1-{space.team_id}-{serial}-refresh"
            self.refresh_tokens[refresh] = space
            answer |= {"refresh_token": refresh, "expires_in": expires_in}
        return answer


def _client_authenticated(auth: str | None, params: dict[str, Any]) -> bool:
    # slack-sdk sends the client's credentials as HTTP Basic auth; Slack also takes them in
    # the form.
    if auth and auth.startswith("Basic "):
        pair = base64.b64decode(auth.removeprefix("Basic ")).decode()
        return pair == f"{CLIENT_ID}:{CLIENT_SECRET}"
    return (params.get("client_id"), params.get("client_secret")) == (CLIENT_ID, CLIENT_SECRET)
