"""doctor's chat platform checks: Slack's token and the scopes the manifest asks for (auth.test),
Discord's token (GET /users/@me) and the invite URL. Never prints a secret."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from adapters.ops.check import Check
from bot.config import Settings


async def check_slack(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    token = settings.slack_bot_token
    if token is None:
        return []
    base = (settings.slack_api_url or "https://slack.com/api/").rstrip("/") + "/"
    try:
        response = await http.post(
            base + "auth.test", headers={"Authorization": f"Bearer {token.get_secret_value()}"}
        )
        body = response.json()
    except (httpx.HTTPError, json.JSONDecodeError) as err:
        return [Check("Slack", False, f"auth.test failed: {type(err).__name__}", "check network")]
    if not body.get("ok"):
        return [
            Check(
                "Slack",
                False,
                f"auth.test: {body.get('error', 'not ok')}",
                "reinstall the app and copy its Bot User OAuth Token into SLACK_BOT_TOKEN",
            )
        ]
    checks = [Check("Slack", True, f"team {body.get('team')}, bot {body.get('user')}")]
    granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s}
    wanted = manifest_scopes()
    missing = sorted(wanted - granted) if granted else []
    checks.append(
        Check(
            "Slack scopes",
            not missing,
            f"missing: {', '.join(missing)}" if missing else f"{len(granted)} granted",
            "add the scopes from slack-manifest.yml and reinstall the app" if missing else "",
        )
    )
    return checks


def manifest_scopes() -> set[str]:
    """The bot scopes slack-manifest.yml asks for (read without a YAML dependency)."""
    path = Path(__file__).resolve().parents[2] / "slack-manifest.yml"
    if not path.exists():
        return set()
    scopes: set[str] = set()
    inside = False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("bot:"):
            inside = True
            continue
        if inside and stripped.startswith("- "):
            scopes.add(stripped[2:].strip().strip("\"'"))
        elif inside and stripped:
            inside = False
    return scopes


async def check_discord(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    token = settings.discord_token
    if token is None:
        return []
    base = (settings.discord_api_url or "https://discord.com/api/v10").rstrip("/")
    headers = {"Authorization": f"Bot {token.get_secret_value()}"}
    try:
        response = await http.get(f"{base}/oauth2/applications/@me", headers=headers)
    except httpx.HTTPError as err:
        return [Check("Discord", False, f"{type(err).__name__}", "check network")]
    if response.status_code != 200:
        return [
            Check(
                "Discord",
                False,
                f"token refused (HTTP {response.status_code})",
                "reset the bot token in the Developer Portal and set DISCORD_TOKEN",
            )
        ]
    from adapters.discord.setup import invite_url  # noqa: PLC0415  (discord.py only when configured)

    app = response.json()
    app_id = app.get("id", "?")
    invite = invite_url(int(app_id)) if str(app_id).isdigit() else "unknown application id"
    return [Check("Discord", True, f"application {app.get('name')} ({app_id}); invite: {invite}")]
