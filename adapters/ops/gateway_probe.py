"""`videobot doctor` on a gateway (guide, toapis, apimart, evolink, fal): the chat-completions
trap, then one GET of a task id that cannot exist, sent with the provider's own auth header: a
refused key answers 401/403, a task API answers with a JSON "not found". Never prints the key."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx

from adapters.ops.check import Check
from bot.config import Settings

PROBE_TASK = "videobot-doctor-probe"
# A URL that ends like this is a chat endpoint or an API version root, not the task API's root.
CHAT_TRAP = ("/chat/completions", "/completions", "/v1")


def auth_headers(auth: str, key: str) -> dict[str, str]:
    """The header each provider reads its key from (bot/providers.py `auth`)."""
    if auth == "x-goog-api-key":
        return {"x-goog-api-key": key}
    if auth == "key":
        return {"Authorization": f"Key {key}"}  # fal
    return {"Authorization": f"Bearer {key}"}


def probe_path(settings: Settings) -> str:
    """Where this provider answers a poll, for a task id that cannot exist."""
    dialect = settings.provider_profile.dialect
    if dialect in ("apimart", "evolink"):
        return f"/v1/tasks/{PROBE_TASK}"
    if dialect == "fal":
        # fal's status URL names the owner and app only, never the mode path after them.
        app = "/".join(settings.model_id.strip("/").split("/")[:2])
        return f"/{app}/requests/{PROBE_TASK}/status"
    return f"/v1/videos/generations/{PROBE_TASK}"


async def check_gateway(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    url, key = settings.api_root, settings.video_api_key
    if not url or key is None:
        return []
    path = urlsplit(url).path.rstrip("/")
    if path.endswith(CHAT_TRAP):
        return [
            Check(
                "video API URL",
                False,
                f"{url} looks like a chat endpoint or an API version root",
                "set VIDEO_API_URL to the gateway root (videobot adds the task paths itself); "
                "video models called on the chat endpoint answer 'invalid apitype' and bill "
                "tokens with no video",
            )
        ]
    chosen = settings.provider_profile
    probe = url.rstrip("/") + probe_path(settings)
    headers = auth_headers(settings.auth_scheme, key.get_secret_value())
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
                f"set VIDEO_API_KEY to {chosen.key_hint} for {chosen.title}",
            )
        )
        return checks
    checks.append(Check("video API key", True, "accepted"))
    shown = probe_path(settings).replace(PROBE_TASK, "{id}")
    if not _is_task_api(response):
        checks.append(
            Check(
                "task API",
                False,
                f"{probe} did not answer like a task API (HTTP {response.status_code}, "
                f"{response.headers.get('content-type', 'no content type')})",
                f"point VIDEO_API_URL at the gateway root that serves {shown}",
            )
        )
    else:
        checks.append(Check("task API", True, f"{shown} answers in JSON"))
    return checks


def _is_task_api(response: httpx.Response) -> bool:
    """A task API answers an unknown task id with a JSON error (404/400/422), not a page."""
    if "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = response.json()
    except json.JSONDecodeError:
        return False
    text = json.dumps(body).lower()
    return response.status_code in (400, 404, 422) and "invalid apitype" not in text
