"""`videobot doctor`: checks configuration, the ledger, the chosen provider and the chat
platforms, and prints one table of pass/fail/skip with the next step for each failure. Never
prints a secret."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from adapters.ops.chat_probe import check_discord, check_slack
from adapters.ops.check import Check
from adapters.ops.database import check_database
from adapters.ops.distribution import check_installations, check_shards
from adapters.ops.gateway_probe import CHAT_TRAP, check_gateway
from adapters.ops.google_probe import SignIn, check_gemini, check_vertex, vertex_setup
from adapters.ops.spend import price_check, unit_check
from bot.config import Settings
from bot.domain import Mode
from bot.usage import seconds
from storage.sqlite.ledger import LedgerError, SqliteLedger
from storage.sqlite.lock import holder
from storage.sqlite.schema import SCHEMA_VERSION

__all__ = ["Check", "check_config", "check_provider", "run_doctor"]


Probe = Callable[[Settings, httpx.AsyncClient], Awaitable[list[Check]]]


def check_config(settings: Settings) -> list[Check]:
    checks = [_chosen(settings)]
    if settings.provider_profile.dialect == "vertex":
        setup, _ = vertex_setup(settings)
        checks.append(setup)
    else:
        checks.append(_api_settings(settings))
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
    checks.append(_callbacks(settings))
    checks.append(price_check(settings))
    return checks


def _callbacks(settings: Settings) -> Check:
    """Whether providers will call back, where, and signed how (offline: the settings)."""
    kind = settings.callback_kind
    if kind is None:
        why = "no VIDEOBOT_CALLBACK_URL" if not settings.callback_url else "this provider"
        return Check("callbacks", True, f"off ({why}); results are found by polling")
    port = settings.callback_port
    served = f"its own port {port}" if port is not None else "the metrics port"
    if port is None and settings.metrics_port is None:
        return Check(
            "callbacks",
            False,
            f"{kind} callbacks to {settings.callback_endpoint}, but nothing serves them",
            "set VIDEOBOT_CALLBACK_PORT (or VIDEOBOT_METRICS_PORT) and route the URL to it",
        )
    if kind == "standard" and settings.callback_secret is None:
        return Check(
            "callbacks",
            False,
            "standard callbacks need the shared secret",
            "set VIDEOBOT_CALLBACK_SECRET (whsec_...) as the provider shows it",
        )
    signed = "unsigned: each costs one poll" if kind == "evolink" else "signatures checked"
    return Check(
        "callbacks", True, f"{kind}, {signed}, to {settings.callback_endpoint} on {served}"
    )


def _chosen(settings: Settings) -> Check:
    """Which provider and profile are in force: what every other line is about."""
    chosen, allows = settings.provider_profile, settings.profile()
    modes = ", ".join(m.value for m in Mode if m in allows.modes)
    named = chosen.name if chosen.title == chosen.name else f"{chosen.name} ({chosen.title})"
    return Check(
        "provider",
        True,
        f"{named}, model {settings.model_id}, root "
        f"{settings.api_root or 'not set'}; {seconds(allows.durations, ', ')} s, "
        f"{', '.join(allows.resolutions)}, modes {modes}, up to "
        f"{allows.max_reference_images} reference images",
    )


def _api_settings(settings: Settings) -> Check:
    chosen = settings.provider_profile
    missing = [
        name
        for name, value in (
            ("VIDEO_API_URL", settings.api_root),
            ("VIDEO_API_KEY", settings.video_api_key),
        )
        if not value
    ]
    if missing:
        return Check(
            "video API settings",
            False,
            f"missing: {', '.join(missing)}",
            f"set them (see the README's Providers section; the key is {chosen.key_hint}); "
            "`videobot demo` needs neither",
        )
    path = urlsplit(settings.api_root or "").path.rstrip("/")
    if chosen.dialect not in ("google", "vertex") and path.endswith(CHAT_TRAP):
        # Not "at <url>": the video API URL row below fails that URL and says why.
        return Check(
            "video API settings", True, f"{chosen.title}: VIDEO_API_URL and VIDEO_API_KEY set"
        )
    return Check("video API settings", True, f"{chosen.title} at {settings.api_root}")


async def check_ledger(path: Path, unit: str = "") -> list[Check]:
    if not await asyncio.to_thread(path.exists):
        # Opening would create it: doctor looks, it does not make a ledger where none was.
        made = await asyncio.to_thread(path.parent.is_dir)
        where = "its folder exists" if made else "its folder will be made"
        return [Check("ledger", True, f"{path}: none yet; the first start creates it ({where})")]
    try:
        async with SqliteLedger.open(path) as ledger:
            counts = await ledger.count_by_state()
            intact = await ledger.integrity_check()
            units = await unit_check(ledger, unit) if unit else []
    except LedgerError as err:
        return [Check("ledger", False, str(err), "fix the path or permissions of VIDEOBOT_DB")]
    live = sum(counts.values())
    pid = holder(path)
    served = "not served by a running videobot" if pid is None else f"served by pid {pid}"
    return [
        Check(
            "ledger",
            intact == "ok",
            f"{path}: WAL, schema v{SCHEMA_VERSION}, {_count(live, 'task')}, integrity {intact}, "
            f"{served}",
            "" if intact == "ok" else "restore the ledger from a backup",
        ),
        *units,
    ]


async def check_provider(
    settings: Settings, http: httpx.AsyncClient, sign_in: SignIn | None = None
) -> list[Check]:
    """The chosen provider, for real: Google's key, model and Files API; Vertex AI's sign-in
    and project; a gateway's URL, key and task API."""
    dialect = settings.provider_profile.dialect
    if dialect == "google":
        return await check_gemini(settings, http)
    if dialect == "vertex":
        return await check_vertex(settings, http, sign_in)
    return await check_gateway(settings, http)


async def run_doctor(
    settings: Settings, out: TextIO, offline: bool = False, sign_in: SignIn | None = None
) -> int:
    """Print the table; 1 if anything failed. `sign_in` signs Vertex AI requests (the bot's
    service-account credentials); without it Vertex's network checks are skipped."""
    checks = check_config(settings)
    if settings.database_url is not None:
        checks += await check_database(settings.database_url.get_secret_value(), settings.provider)
    else:
        checks += await check_ledger(settings.ledger_path, settings.prices_in_force.unit)
    checks += await check_installations(settings)
    if offline:
        checks += await check_shards(settings, None)
    else:
        timeout = httpx.Timeout(10.0)
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http:
            platforms: list[Probe] = [check_slack, check_discord, check_shards]
            found = await asyncio.gather(
                check_provider(settings, http, sign_in), *(p(settings, http) for p in platforms)
            )
            for some in found:
                checks += some
    width = max(len(c.name) for c in checks)
    for check in checks:
        out.write(f"{check.mark}  {check.name:<{width}}  {check.detail}\n")
        if check.fix:
            out.write(f"      {'':<{width}}  -> {check.fix}\n")
    failed = sum(not c.ok for c in checks)
    passed = sum(c.ok and not c.skipped for c in checks)
    skips = len(checks) - failed - passed
    skipped = f", {skips} skipped" if skips else ""
    out.write(f"\n{_count(passed, 'check')} passed, {failed} failed{skipped}\n")
    return 1 if failed else 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
