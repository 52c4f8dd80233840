"""`videobot doctor` on Google: the Gemini API (key accepted, model id known, the Files API
reachable) and Vertex AI (the service account key file and project; with a sign-in, its token,
the model and the project's access). Prints status codes and names, never a key or a token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from adapters.ops.check import Check, skipped
from adapters.ops.gateway_probe import PROBE_TASK
from bot.config import Settings

GEMINI_ROOT = "https://generativelanguage.googleapis.com"
KEY_PAGE = "https://aistudio.google.com/apikey"
# Roots that are really an endpoint: the OpenAI-compatible chat path makes no videos.
_WRONG_ROOTS = ("/chat/completions", "/completions", "/openai", "/v1beta", "/v1", "/interactions")
_KEY_FIELDS = ("client_email", "private_key", "token_uri")


class SignIn(Protocol):
    """What signs a Vertex AI request (the bot's service-account credentials)."""

    async def headers(self) -> Mapping[str, str]:
        """Headers carrying a fresh access token; raises when no token can be had."""
        ...


async def check_gemini(settings: Settings, http: httpx.AsyncClient) -> list[Check]:
    root, key = settings.api_root, settings.video_api_key
    if not root or key is None:
        return []
    if urlsplit(root).path.rstrip("/").endswith(_WRONG_ROOTS):
        return [
            Check(
                "Gemini API URL",
                False,
                f"{root} is an endpoint, not the API's root",
                f"leave VIDEO_API_URL unset (videobot uses {GEMINI_ROOT}) or give a root; "
                "the OpenAI-compatible chat endpoint makes no videos",
            )
        ]
    base, model = root.rstrip("/"), settings.model_id
    headers = {"x-goog-api-key": key.get_secret_value()}
    try:
        response = await http.get(f"{base}/v1beta/models/{quote(model, safe='')}", headers=headers)
    except httpx.HTTPError as err:
        return [_unreachable("Gemini API reachable", err, root)]
    status = response.status_code
    checks = [Check("Gemini API reachable", True, f"HTTP {status} from {root}")]
    if status in (400, 401, 403):  # Google answers a bad key with 400 INVALID_ARGUMENT
        checks.append(
            Check(
                "Gemini API key",
                False,
                f"refused (HTTP {status}{_reason(response)})",
                f"set VIDEO_API_KEY to a Gemini API key from Google AI Studio ({KEY_PAGE})",
            )
        )
        return checks
    if status not in (200, 404):
        checks.append(
            Check(
                "Gemini API key",
                False,
                f"not confirmed: HTTP {status}{_reason(response)}",
                "Google is limiting or failing requests right now; run `videobot doctor` again "
                "in a minute",
            )
        )
        return checks
    checks.append(Check("Gemini API key", True, "accepted"))
    if status == 404:
        checks.append(
            Check(
                "model id",
                False,
                f"{model} is not a model this key can use (HTTP 404)",
                "set VIDEOBOT_MODEL to a video model id from GET /v1beta/models, e.g. "
                "gemini-omni-1.1-flash, or unset it for the profile's",
            )
        )
    else:
        checks.append(Check("model id", True, f"{model} is known"))
    return [*checks, await _files_api(http, base, headers)]


async def _files_api(http: httpx.AsyncClient, base: str, headers: dict[str, str]) -> Check:
    """Images too big to send inline and every clip to edit go up through the Files API."""
    name = "Gemini Files API"
    try:
        response = await http.get(f"{base}/v1beta/files", headers=headers)
    except httpx.HTTPError as err:
        return _unreachable(name, err, base)
    if response.status_code == 200:
        return Check(name, True, "reachable (large images and clips to edit are uploaded here)")
    return Check(
        name,
        False,
        f"HTTP {response.status_code}{_reason(response)} from /v1beta/files",
        "image and edit requests need the Files API: use a key whose project may upload files",
    )


KEY_FILE_MAX = 64 * 1024  # a service account key is about 2.3 KB


def read_small(path: Path) -> str:
    """A key file's text: a regular file of a few KB (not /dev/zero, not a FIFO that never
    ends), read at most that far."""
    if path.exists() and not path.is_file():
        raise OSError(0, "not a regular file", str(path))
    with path.open("rb") as file:
        data = file.read(KEY_FILE_MAX + 1)
    if len(data) > KEY_FILE_MAX:
        raise OSError(0, "far larger than a key file", str(path))
    return data.decode("utf-8")


def vertex_setup(settings: Settings) -> tuple[Check, dict[str, str] | None]:
    """The Vertex AI settings (offline): the key file and the project. Returns the check and,
    when it passed, {"project", "location"}."""
    name = "Vertex AI settings"
    path = _setting(settings, "google_application_credentials")
    if not path:
        return Check(
            name,
            False,
            "missing: GOOGLE_APPLICATION_CREDENTIALS",
            "set it to the path of a service account JSON key (Google Cloud console > IAM > "
            "Service accounts > Keys > Add key > JSON) whose account has the Vertex AI User role",
        ), None
    try:
        info = json.loads(read_small(Path(path)))
    except OSError as err:
        return Check(name, False, f"{path}: {err.strerror}", "fix the key file's path"), None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Check(name, False, f"{path} is not JSON", "download the key again as JSON"), None
    kind = info.get("type") if isinstance(info, dict) else None
    missing = [f for f in _KEY_FIELDS if not (isinstance(info, dict) and info.get(f))]
    if kind != "service_account" or missing:
        return Check(
            name,
            False,
            f"{path} is not a service account key ({kind or 'no type'})",
            "create a JSON key for a service account (user credentials do not work here)",
        ), None
    project = _setting(settings, "vertex_project") or str(info.get("project_id") or "")
    if not project:
        return Check(
            name,
            False,
            "missing: VIDEOBOT_VERTEX_PROJECT (the key file names no project)",
            "set VIDEOBOT_VERTEX_PROJECT to the Google Cloud project id that pays for the videos",
        ), None
    location = _setting(settings, "vertex_location") or "global"
    detail = f"service account {info['client_email']}, project {project}, location {location}"
    return Check(name, True, detail), {"project": project, "location": location}


async def check_vertex(
    settings: Settings, http: httpx.AsyncClient, sign_in: SignIn | None
) -> list[Check]:
    """With working settings and a sign-in: a token, the model, the project's access."""
    _, where = vertex_setup(settings)
    root = settings.api_root
    if where is None or not root:
        return [skipped("Vertex AI", "network checks skipped: fix the Vertex AI settings first")]
    if sign_in is None:
        return [skipped("Vertex AI sign-in", "not tried here; the bot asks for a token at start")]
    try:
        headers = dict(await sign_in.headers())
    except Exception as err:  # doctor's boundary: any sign-in failure is a failed check
        return [
            Check(
                "Vertex AI sign-in",
                False,
                f"no token: {type(err).__name__}"
                + (f" ({err})" if isinstance(err, ValueError) else ""),
                "check that the key is still active (IAM > Service accounts > Keys) and that "
                "this host reaches oauth2.googleapis.com",
            )
        ]
    checks = [Check("Vertex AI sign-in", True, "token issued")]
    base, model = root.rstrip("/"), settings.model_id
    project, location = where["project"], where["location"]
    access_fix = (
        f"enable the Vertex AI API in project {project} and grant the service account the "
        "Vertex AI User role"
    )
    try:
        found = await http.get(f"{base}/v1beta1/publishers/google/models/{model}", headers=headers)
        probe = await http.get(
            f"{base}/v1beta1/projects/{project}/locations/{location}/interactions/{PROBE_TASK}",
            headers=headers,
        )
    except httpx.HTTPError as err:
        return [*checks, _unreachable("Vertex AI reachable", err, root)]
    if found.status_code == 404:
        checks.append(
            Check(
                "model id",
                False,
                f"{model} is not a Vertex AI model (HTTP 404)",
                "set VIDEOBOT_MODEL to a Vertex AI model id, e.g. gemini-omni-1.2-flash",
            )
        )
    elif found.status_code == 200:
        checks.append(Check("model id", True, f"{model} is known"))
    if probe.status_code in (401, 403):
        checks.append(
            Check("Vertex AI project", False, f"refused (HTTP {probe.status_code})", access_fix)
        )
    else:
        checks.append(
            Check("Vertex AI project", True, f"{project} answers (HTTP {probe.status_code})")
        )
    return checks


def _setting(settings: Settings, name: str) -> str | None:
    """A setting that may not exist in this build (the Vertex ones), read without failing."""
    value: Any = getattr(settings, name, None)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value).strip() or None if value is not None else None


def _reason(response: httpx.Response) -> str:
    """Google's error status word (`INVALID_ARGUMENT`, `PERMISSION_DENIED`), if it gave one."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, list) and body:
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    word = error.get("status") or error.get("code") if isinstance(error, dict) else None
    text = str(word or "")
    return f", {text}" if text and len(text) <= 40 and text.replace("_", "").isalnum() else ""


def _unreachable(name: str, err: httpx.HTTPError, root: str) -> Check:
    return Check(
        name,
        False,
        f"{type(err).__name__} for {root}",
        "check VIDEO_API_URL (or leave it unset for Google's), DNS and outbound network",
    )


def _said(err: Exception) -> bool:
    """A key file the bot refuses says why (its path and the problem; never key material)."""
    return type(err).__name__ == "KeyFileError"
