"""`videobot doctor` checks the chosen provider for real, against small servers on loopback that
answer the way each provider does: Google (key, model id, Files API), Vertex AI (key file,
project, sign-in), each gateway (its probe path, its auth header, the chat-completions trap).
Every refusal names the next step, and no key, token or private key is ever printed."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import AliasChoices, Field

from adapters.ops.doctor import run_doctor
from adapters.ops.google_probe import SignIn
from bot.config import Settings
from bot.providers import PROVIDERS

GOOD_KEY = "AIza-test-key-0000000000000000000000"
TOKEN = "ya29.test-access-token-0000"
PRIVATE = "-----BEGIN PRIVATE KEY-----\nMIIEv-not-a-real-key\n-----END PRIVATE KEY-----\n"


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@asynccontextmanager
async def serve(routes: list[web.RouteDef], seen: Seen) -> AsyncIterator[str]:
    @web.middleware
    async def record(request: web.Request, handler: Callable[..., object]) -> web.StreamResponse:
        seen.paths.append(request.path_qs)
        seen.headers.append({k.lower(): v for k, v in request.headers.items()})
        return await handler(request)  # type: ignore[no-any-return,misc]

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def google_error(status: int, word: str) -> web.Response:
    body = {"error": {"code": status, "message": "from the fake", "status": word}}
    return web.json_response(body, status=status)


def google_routes(known: str = "gemini-omni-1.1-flash", files: int = 200) -> list[web.RouteDef]:
    async def model(request: web.Request) -> web.Response:
        if request.headers.get("x-goog-api-key") != GOOD_KEY:
            return google_error(400, "INVALID_ARGUMENT")  # what Google answers a bad key
        if request.match_info["model"] != known:
            return google_error(404, "NOT_FOUND")
        return web.json_response({"name": f"models/{known}", "displayName": "Omni Flash"})

    async def listing(request: web.Request) -> web.Response:
        if files != 200:
            return google_error(files, "PERMISSION_DENIED")
        return web.json_response({"files": []})

    return [web.get("/v1beta/models/{model}", model), web.get("/v1beta/files", listing)]


def settings(tmp_path: Path, cls: type[Settings] = Settings, **values: object) -> Settings:
    base: dict[str, object] = {"VIDEOBOT_DB": str(tmp_path / "d.db"), "DISCORD_TOKEN": None}
    return cls(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


async def doctor(config: Settings, sign_in: SignIn | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_doctor(config, out, sign_in=sign_in)
    return code, out.getvalue()


def line(text: str, name: str) -> str:
    """The table row for check `name` (and its next-step line, when it has one)."""
    rows = text.splitlines()
    for i, row in enumerate(rows):
        if row[6:].split("  ")[0] == name:
            follow = rows[i + 1] if i + 1 < len(rows) and "->" in rows[i + 1] else ""
            return f"{row}\n{follow}"
    raise AssertionError(f"no row {name!r} in:\n{text}")


async def test_google_key_model_and_files_api_pass(tmp_path: Path) -> None:
    seen = Seen()
    async with serve(google_routes(), seen) as url:
        config = settings(
            tmp_path, VIDEOBOT_PROVIDER="google", VIDEO_API_URL=url, VIDEO_API_KEY=GOOD_KEY
        )
        _, text = await doctor(config)
    assert line(text, "provider").startswith("PASS")
    assert f"google (Google Gemini API), model gemini-omni-1.1-flash, root {url}" in text
    assert "4, 6, 8, 10 s, 360p, 720p, 1080p, 4k, modes t2v, i2v, r2v, edit" in text
    for name in ("Gemini API key", "model id", "Gemini Files API"):
        assert line(text, name).startswith("PASS"), text
    assert seen.paths == ["/v1beta/models/gemini-omni-1.1-flash", "/v1beta/files"]
    assert all(h.get("x-goog-api-key") == GOOD_KEY for h in seen.headers)
    assert "authorization" not in seen.headers[0]  # one credential only: two are a 400
    assert GOOD_KEY not in text


async def test_google_refused_key_unknown_model_and_files_api_each_say_what_to_do(
    tmp_path: Path,
) -> None:
    async with serve(google_routes(files=403), Seen()) as url:
        refused = settings(
            tmp_path, VIDEOBOT_PROVIDER="google", VIDEO_API_URL=url, VIDEO_API_KEY="AIza-wrong"
        )
        code, text = await doctor(refused)
        assert code == 1 and "AIza-wrong" not in text
        row = line(text, "Gemini API key")
        assert row.startswith("FAIL") and "refused (HTTP 400, INVALID_ARGUMENT)" in row
        assert "aistudio.google.com/apikey" in row and "Gemini Files API" not in text

        unknown = settings(
            tmp_path,
            VIDEOBOT_PROVIDER="google",
            VIDEO_API_URL=url,
            VIDEO_API_KEY=GOOD_KEY,
            VIDEOBOT_MODEL="gemini-omni-9-nope",
        )
        code, text = await doctor(unknown)
    assert code == 1 and line(text, "Gemini API key").startswith("PASS")
    row = line(text, "model id")
    assert row.startswith("FAIL") and "gemini-omni-9-nope" in row and "VIDEOBOT_MODEL" in row
    row = line(text, "Gemini Files API")
    assert row.startswith("FAIL") and "HTTP 403, PERMISSION_DENIED" in row


async def test_google_chat_endpoint_and_missing_key(tmp_path: Path) -> None:
    chat = settings(
        tmp_path,
        VIDEOBOT_PROVIDER="google",
        VIDEO_API_URL="http://127.0.0.1:9/v1beta/openai/chat/completions",
        VIDEO_API_KEY=GOOD_KEY,
    )
    code, text = await doctor(chat)
    row = line(text, "Gemini API URL")
    assert code == 1 and row.startswith("FAIL") and "leave VIDEO_API_URL unset" in row
    keyless = settings(tmp_path, VIDEOBOT_PROVIDER="google")
    out = io.StringIO()
    assert await run_doctor(keyless, out, offline=True) == 1
    row = line(out.getvalue(), "video API settings")
    assert "missing: VIDEO_API_KEY" in row and "a Gemini API key from Google AI Studio" in row
    assert "root https://generativelanguage.googleapis.com" in out.getvalue()


GATEWAYS = {
    "guide": ("/v1/videos/generations/videobot-doctor-probe", "Bearer"),
    "toapis": ("/v1/videos/generations/videobot-doctor-probe", "Bearer"),
    "apimart": ("/v1/tasks/videobot-doctor-probe", "Bearer"),
    "evolink": ("/v1/tasks/videobot-doctor-probe", "Bearer"),
    "fal": ("/google/gemini-omni-flash/requests/videobot-doctor-probe/status", "Key"),
}


def gateway_routes(scheme: str) -> list[web.RouteDef]:
    async def poll(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"{scheme} {GOOD_KEY}":
            return web.json_response({"detail": "Unauthorized"}, status=401)
        return web.json_response({"error": {"message": "task not found"}}, status=404)

    return [web.get("/{tail:.*}", poll)]


@pytest.mark.parametrize("name", sorted(GATEWAYS))
async def test_each_gateway_is_probed_where_it_polls_with_its_own_auth_header(
    name: str, tmp_path: Path
) -> None:
    path, scheme = GATEWAYS[name]
    seen = Seen()
    async with serve(gateway_routes(scheme), seen) as url:
        good = settings(tmp_path, VIDEOBOT_PROVIDER=name, VIDEO_API_URL=url, VIDEO_API_KEY=GOOD_KEY)
        _, text = await doctor(good)
        assert line(text, "video API key").startswith("PASS") and GOOD_KEY not in text
        assert line(text, "task API").startswith("PASS"), text
        title = PROVIDERS[name].title
        assert (name if title == name else f"{name} ({title})") in line(text, "provider")
        assert seen.paths == [path]

        bad = settings(tmp_path, VIDEOBOT_PROVIDER=name, VIDEO_API_URL=url, VIDEO_API_KEY="sk-bad")
        code, text = await doctor(bad)
    row = line(text, "video API key")
    assert code == 1 and row.startswith("FAIL") and PROVIDERS[name].key_hint in row
    assert "sk-bad" not in text


@pytest.mark.parametrize("name", sorted(GATEWAYS))
@pytest.mark.parametrize("tail", ["/v1/chat/completions", "/v1"])
async def test_the_chat_completions_trap_for_every_gateway(
    name: str, tail: str, tmp_path: Path
) -> None:
    trap = settings(
        tmp_path,
        VIDEOBOT_PROVIDER=name,
        VIDEO_API_URL=f"http://127.0.0.1:9{tail}",
        VIDEO_API_KEY=GOOD_KEY,
    )
    code, text = await doctor(trap)
    row = line(text, "video API URL")
    assert code == 1 and row.startswith("FAIL") and "invalid apitype" in row
    # The settings row does not pass the URL the row above fails.
    assert f"127.0.0.1:9{tail}" not in line(text, "video API settings")


class VertexSettings(Settings):
    """The Vertex settings as the Vertex wiring adds them; doctor reads them when present."""

    google_application_credentials: Path | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_APPLICATION_CREDENTIALS")
    )
    vertex_project: str | None = Field(
        None, validation_alias=AliasChoices("VIDEOBOT_VERTEX_PROJECT")
    )


def key_file(tmp_path: Path, **fields: object) -> Path:
    info = {
        "type": "service_account",
        "project_id": "film-studio",
        "client_email": "videobot@film-studio.iam.gserviceaccount.com",
        "private_key": PRIVATE,
        "token_uri": "https://oauth2.googleapis.com/token",
        **fields,
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info))
    return path


class Token:
    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


class NoToken:
    async def headers(self) -> Mapping[str, str]:
        raise PermissionError("invalid_grant")


def vertex_routes() -> list[web.RouteDef]:
    async def model(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return google_error(401, "UNAUTHENTICATED")
        if request.match_info["model"] != "gemini-omni-1.2-flash":
            return google_error(404, "NOT_FOUND")
        return web.json_response({"name": "publishers/google/models/gemini-omni-1.2-flash"})

    async def interaction(request: web.Request) -> web.Response:
        if request.match_info["project"] == "locked":
            return google_error(403, "PERMISSION_DENIED")
        return google_error(400, "INVALID_ARGUMENT")  # "Invalid interaction name"

    return [
        web.get("/v1beta1/publishers/google/models/{model}", model),
        web.get("/v1beta1/projects/{project}/locations/{location}/interactions/{id}", interaction),
    ]


async def test_vertex_without_credentials_says_what_is_missing_and_skips_the_network(
    tmp_path: Path,
) -> None:
    code, text = await doctor(settings(tmp_path, VIDEOBOT_PROVIDER="vertex"))
    row = line(text, "Vertex AI settings")
    assert code == 1 and "missing: GOOGLE_APPLICATION_CREDENTIALS" in row
    assert "service account JSON key" in row and "video API settings" not in text
    assert line(text, "Vertex AI").startswith("SKIP") and "skipped" in text


async def test_vertex_key_file_problems(tmp_path: Path) -> None:
    user = key_file(tmp_path, type="authorized_user")
    config = settings(
        tmp_path, VertexSettings, VIDEOBOT_PROVIDER="vertex", GOOGLE_APPLICATION_CREDENTIALS=user
    )
    code, text = await doctor(config, Token())
    assert code == 1 and "not a service account key (authorized_user)" in text
    nameless = key_file(tmp_path, project_id="")
    config = settings(
        tmp_path,
        VertexSettings,
        VIDEOBOT_PROVIDER="vertex",
        GOOGLE_APPLICATION_CREDENTIALS=nameless,
    )
    _, text = await doctor(config, Token())
    assert "missing: VIDEOBOT_VERTEX_PROJECT" in text and PRIVATE.splitlines()[1] not in text
    gone = settings(
        tmp_path,
        VertexSettings,
        VIDEOBOT_PROVIDER="vertex",
        GOOGLE_APPLICATION_CREDENTIALS=tmp_path / "nope.json",
    )
    _, text = await doctor(gone, Token())
    assert "nope.json: No such file or directory" in text


async def test_vertex_sign_in_model_and_project(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    seen = Seen()
    async with serve(vertex_routes(), seen) as url:

        def config(project: str | None = None) -> Settings:
            return settings(
                tmp_path,
                VertexSettings,
                VIDEOBOT_PROVIDER="vertex",
                VIDEO_API_URL=url,
                GOOGLE_APPLICATION_CREDENTIALS=path,
                VIDEOBOT_VERTEX_PROJECT=project,
            )

        _, text = await doctor(config(), Token())
        row = line(text, "Vertex AI settings")
        assert "videobot@film-studio.iam.gserviceaccount.com, project film-studio" in row
        for name in ("Vertex AI sign-in", "model id", "Vertex AI project"):
            assert line(text, name).startswith("PASS"), text
        assert "/v1beta1/projects/film-studio/locations/global/interactions/" in seen.paths[-1]
        assert TOKEN not in text and "PRIVATE KEY" not in text

        code, text = await doctor(config("locked"), Token())
        row = line(text, "Vertex AI project")
        assert code == 1 and row.startswith("FAIL") and "Vertex AI User role" in row

        code, text = await doctor(config(), NoToken())
        row = line(text, "Vertex AI sign-in")
        assert code == 1 and "no token: PermissionError" in row

        _, text = await doctor(config(), None)
        assert line(text, "Vertex AI sign-in").startswith("SKIP")
