"""Installing the Slack app into a workspace of the fake Slack the way a person does: open
/slack/install ("Add to Slack"), allow on Slack's authorize page, come back to
/slack/oauth_redirect with the code; and the settings that turn distribution on."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from tests.fakes.slack_harness import SlackHarness
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET, OAuthMethods

_LINK = re.compile(r'<a href="([^"]+)"><img alt="Add to Slack"')
COOKIE = "slack-app-oauth-state"


def distributed(tmp_path: Path) -> dict[str, Any]:
    """Settings overrides: no SLACK_BOT_TOKEN, the app's client credentials instead, and the
    installations in the same SQLite file as the ledger fixture's tasks."""
    return {
        "slack_bot_token": None,
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": SecretStr(CLIENT_SECRET),
        "db_path": tmp_path / "ledger.db",
    }


def root(harness: SlackHarness) -> str:
    return f"http://127.0.0.1:{harness.adapter.port}"


async def install(
    start: SlackHarness,
    team: str,
    *,
    finish: SlackHarness | None = None,
    enterprise: str | None = None,
) -> httpx.Response:
    """Start the install on `start`'s /slack/install, allow it in `team`, and come back to
    `finish` (another replica; `start` unless told). Returns the redirect page's answer."""
    finish = finish or start
    return await install_at(
        start.client, start.fake, root(start), root(finish), team, enterprise=enterprise
    )


async def install_at(
    client: httpx.AsyncClient,
    fake: OAuthMethods,
    start: str,
    finish: str,
    team: str,
    *,
    enterprise: str | None = None,
) -> httpx.Response:
    """The same by the replicas' base URLs (processes of their own)."""
    page = await client.get(f"{start}/slack/install")
    assert page.status_code == 200, page.text
    match = _LINK.search(page.text)
    assert match is not None, "the install page shows no Add to Slack link"
    cookie = page.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith(f"{COOKIE}=")
    fake.redirect_uri = f"{finish}/slack/oauth_redirect"
    allow = {"team": team, **({"enterprise": enterprise} if enterprise else {})}
    link = f"{html.unescape(match.group(1))}&{urlencode(allow)}"  # the user's pick, added
    authorize = await client.get(link)
    assert authorize.status_code == 302, authorize.text
    return await client.get(authorize.headers["location"], headers={"Cookie": cookie})
