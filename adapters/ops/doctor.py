"""`videobot doctor`: checks configuration, the ledger, the video API and the chat platforms,
and prints one table of pass/fail with the next step for each failure. Never prints a secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from bot.config import Settings
from storage.sqlite.ledger import LedgerError, SqliteLedger
from storage.sqlite.lock import holder
from storage.sqlite.schema import SCHEMA_VERSION

_PROBE_TASK = "videobot-doctor-probe"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


Probe = Callable[[Settings, httpx.AsyncClient], Awaitable[list[Check]]]


def check_config(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    if not settings.api_root or settings.video_api_key is None:
        missing = [
            name
            for name, value in (
                ("VIDEO_API_URL", settings.api_root),
                ("VIDEO_API_KEY", settings.video_api_key),
            )
            if not value
        ]
        checks.append(
            Check(
                "video API settings",
                False,
                f"missing: {', '.join(missing)}",
                "set them (see the README's settings table); `videobot demo` needs neither",
            )
        )
    else:
        chosen = settings.provider_profile
        checks.append(Check("video API settings", True, f"{chosen.title} at {settings.api_root}"))
    allows = settings.profile()
    if allows.default_duration not in allows.durations:
        checks.append(
            Check(
                "durations",
                False,
                f"default {allows.default_duration}s is not in {list(allows.durations)}",
                "make VIDEOBOT_DEFAULT_DURATION one of VIDEOBOT_DURATIONS",
            )
        )
    platforms = []
    if settings.slack_bot_token:
        if not (settings.slack_app_token or settings.slack_signing_secret):
            checks.append(
                Check(
                    "Slack settings",
                    False,
                    "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET",
                    "set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)",
                )
            )
        platforms.append("Slack")
    if settings.discord_token:
        platforms.append("Discord")
    checks.append(
        Check(
            "chat platforms",
            bool(platforms),
            ", ".join(platforms) or "none configured",
            "" if platforms else "set SLACK_BOT_TOKEN and/or DISCORD_TOKEN",
        )
    )
    return checks


async def check_ledger(path: Path) -> list[Check]:
    try:
        async with SqliteLedger.open(path) as ledger:
            counts = await ledger.count_by_state()
            intact = await ledger.integrity_check()
    except LedgerError as err:
        return [Check("ledger", False, str(err), "fix the path or permissions of VIDEOBOT_DB")]
    live = sum(counts.values())
    pid = holder(path)
    served = "not served by a running videobot" if pid is None else f"served by pid {pid}"
    return [
        Check(
            "ledger",
            intact == "ok",
            f"{path}: WAL, schema v{SCHEMA_VERSION}, {live} tasks, integrity {intact}, {served}",
            "" if intact == "ok" else "restore the ledger from a backup",
        )
    ]


async def check_provider(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    url, key = settings.api_root, settings.video_api_key
    if not url or key is None:
        return []
    path = urlsplit(url).path.rstrip("/")
    if path.endswith(("/chat/completions", "/completions", "/v1")):
        return [
            Check(
                "video API URL",
                False,
                f"{url} looks like a chat endpoint or an API version root",
                "set VIDEO_API_URL to the gateway root (videobot adds /v1/videos/generations); "
                "video models called on the chat endpoint answer 'invalid apitype' and bill "
                "tokens with no video",
            )
        ]
    probe = f"{url.rstrip('/')}/v1/videos/generations/{_PROBE_TASK}"
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
    try:
        response = await http.get(probe, headers=headers)
    except httpx.HTTPError as err:
        return [
            Check(
                "video API reachable",
                False,
                f"{type(err).__name__} for {url}",
                "check VIDEO_API_URL, DNS and outbound network from this host",
            )
        ]
    checks = [Check("video API reachable", True, f"HTTP {response.status_code} from {url}")]
    if response.status_code in (401, 403):
        checks.append(
            Check(
                "video API key",
                False,
                f"refused (HTTP {response.status_code})",
                "set VIDEO_API_KEY to a valid key for this gateway",
            )
        )
        return checks
    checks.append(Check("video API key", True, "accepted"))
    if not _is_task_api(response):
        checks.append(
            Check(
                "task API",
                False,
                f"{probe} did not answer like a task API (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content type')})",
                "point VIDEO_API_URL at the gateway root that serves /v1/videos/generations",
            )
        )
    else:
        checks.append(Check("task API", True, "/v1/videos/generations answers in JSON"))
    return checks


def _is_task_api(response: httpx.Response) -> bool:
    """A task API answers an unknown task id with a JSON error (404/400), not an HTML page."""
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = response.json()
    except json.JSONDecodeError:
        return False
    text = json.dumps(body).lower()
    return response.status_code in (400, 404, 422) and "invalid apitype" not in text


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


async def run_doctor(settings: Settings, out: TextIO, offline: bool = False) -> int:
    checks = check_config(settings)
    checks += await check_ledger(settings.ledger_path)
    if not offline:
        timeout = httpx.Timeout(10.0)
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http:
            probes: list[Probe] = [check_provider, check_slack, check_discord]
            for found in await asyncio.gather(*(probe(settings, http) for probe in probes)):
                checks += found
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = "PASS" if check.ok else "FAIL"
        out.write(f"{mark}  {check.name:<{width}}  {check.detail}\n")
        if check.fix:
            out.write(f"      {'':<{width}}  -> {check.fix}\n")
    failed = sum(not c.ok for c in checks)
    out.write(f"\n{len(checks) - failed} checks passed, {failed} failed\n")
    return 1 if failed else 0
