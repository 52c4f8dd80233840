"""Vertex AI end to end against the simulator's `vertex` speaker: a service account key made
here (an RSA key the simulator trusts) traded for tokens at the simulator's token endpoint,
tokens reused until near expiry and redacted like a key, media inline or refused before paying."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.provider.client import HttpProvider
from adapters.provider.dialects.vertex import INLINE_MAX, VertexDialect
from adapters.provider.redact import Redactor, Taught
from adapters.provider.vertex_auth import ServiceAccountToken
from adapters.provider.wiring import provider_auth, vertex_setup
from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.server import RunningSimulator, start_simulator
from bot.config import Settings
from bot.domain import MediaRef, Mode, VideoRequest
from bot.errors import ProviderAuthError, ProviderRejected, Unreachable
from bot.ports import ProviderState
from tests.conftest import loopback_fetcher
from tests.fakes.clock import FakeClock

PROJECT = "videobot-test-project"


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "VIDEOBOT_VERTEX_PROJECT",
        "VIDEOBOT_VERTEX_LOCATION",
        "VIDEO_API_KEY",
        "VIDEO_API_URL",
        "VIDEOBOT_PROVIDER",
        "VIDEOBOT_DIALECT",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def service_account(token_uri: str) -> tuple[dict[str, Any], str]:
    """A service account key as Google issues it (made here), and its public key in PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": private,
        "client_email": f"videobot@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    return info, public.decode()


@pytest.fixture
async def vsim(clock: FakeClock, http: httpx.AsyncClient) -> AsyncIterator[RunningSimulator]:
    config = SimConfig(dialect="vertex", render_seconds=20, queue_seconds=2, video_height=144)
    running = await start_simulator(config, clock=clock.monotonic)
    yield running
    await running.close()


@pytest.fixture
async def account(vsim: RunningSimulator, http: httpx.AsyncClient) -> dict[str, Any]:
    info, public = service_account(f"{vsim.url}/oauth2/token")
    await sim_knobs(http, vsim, trusted_key=public, token_ttl=3600)
    return info


async def sim_knobs(
    http: httpx.AsyncClient, sim: RunningSimulator, **changes: Any
) -> dict[str, Any]:
    if changes:
        assert (await http.post(f"{sim.url}/_sim/google", json=changes)).status_code == 200
    data: dict[str, Any] = (await http.get(f"{sim.url}/_sim/google")).json()
    return data


def vertex(
    http: httpx.AsyncClient, sim: RunningSimulator, token: ServiceAccountToken, tmp: Path
) -> HttpProvider:
    return HttpProvider(
        http,
        VertexDialect(PROJECT, "global"),
        base_url=sim.url,
        api_key="",
        model="gemini-omni-1.2-flash",
        credentials=token,
        media="inline",
        retry_base=0.01,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
        spill_dir=tmp / "spill",
    )


def clip(path: Path, seconds: int = 3) -> MediaRef:
    path.write_bytes(render_mp4("source clip", "9:16", seconds, 120))
    return MediaRef("video", str(path), "c" * 64, "video/mp4", path.stat().st_size, path.name)


async def test_a_render_end_to_end_with_a_service_account(
    http: httpx.AsyncClient,
    vsim: RunningSimulator,
    account: dict[str, Any],
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    token = ServiceAccountToken(account, clock=clock.now)
    provider = vertex(http, vsim, token, tmp_path)
    source = clip(tmp_path / "clip.mp4")
    staged = await provider.stage(source)
    assert staged.startswith("inline:")  # no Files API on Vertex: the clip rides along
    request = VideoRequest("make it snow", Mode.EDIT, "16:9", 8, video=_with_url(source, staged))
    interaction = await provider.submit(request, "task-1")
    clock.advance(30)
    status = await provider.fetch(interaction)
    assert status.state is ProviderState.SUCCEEDED and status.video_url
    dest = tmp_path / "out.mp4"
    size = await provider.download(status.video_url, dest, 50 << 20)
    assert size > 0 and dest.read_bytes()[4:8] == b"ftyp"
    assert (await sim_knobs(http, vsim))["tokens_issued"] == 1  # one token for every call
    await provider.aclose()


def _with_url(media: MediaRef, url: str) -> MediaRef:
    return MediaRef(media.kind, media.path, media.sha256, media.mime, media.size, media.name, url)


async def test_the_token_is_refreshed_shortly_before_it_expires(
    http: httpx.AsyncClient,
    vsim: RunningSimulator,
    account: dict[str, Any],
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    await sim_knobs(http, vsim, token_ttl=600)
    token = ServiceAccountToken(account, clock=clock.now)
    provider = vertex(http, vsim, token, tmp_path)
    interaction = await provider.submit(VideoRequest("a kite", Mode.T2V, "16:9", 4), "t1")
    clock.advance(240)  # 4 of the token's 10 minutes: still good
    await provider.fetch(interaction)
    assert (await sim_knobs(http, vsim))["tokens_issued"] == 1
    clock.advance(120)  # within five minutes of its end: a new one before the call
    assert (await provider.fetch(interaction)).state is ProviderState.SUCCEEDED
    assert (await sim_knobs(http, vsim))["tokens_issued"] == 2
    clock.advance(timedelta(hours=2).total_seconds())  # long idle: the old one has died
    assert (await provider.fetch(interaction)).state is ProviderState.SUCCEEDED
    assert (await sim_knobs(http, vsim))["tokens_issued"] == 3
    await provider.aclose()


async def test_a_key_google_refuses_is_an_operator_error_and_nothing_is_sent(
    http: httpx.AsyncClient, vsim: RunningSimulator, account: dict[str, Any], tmp_path: Path
) -> None:
    _, stranger = service_account(account["token_uri"])
    await sim_knobs(http, vsim, trusted_key=stranger)  # the key on file is not the account's
    provider = vertex(http, vsim, ServiceAccountToken(account), tmp_path)
    with pytest.raises(ProviderAuthError) as refused:
        await provider.submit(VideoRequest("a kite", Mode.T2V, "16:9", 4), "t1")
    assert refused.value.code == "token_refused" and "invalid_grant" in str(refused.value)
    assert account["private_key"] not in str(refused.value)
    state = (await http.get(f"{vsim.url}/_sim/state")).json()
    assert state["tasks_created"] == 0
    await provider.aclose()


async def test_an_unreachable_token_endpoint_proves_nothing_was_sent(
    http: httpx.AsyncClient, vsim: RunningSimulator, tmp_path: Path
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    info, _ = service_account(f"http://127.0.0.1:{port}/token")
    provider = vertex(http, vsim, ServiceAccountToken(info, timeout=2.0), tmp_path)
    with pytest.raises(Unreachable, match="token endpoint"):
        await provider.submit(VideoRequest("a kite", Mode.T2V, "16:9", 4), "t1")
    assert (await http.get(f"{vsim.url}/_sim/state")).json()["requests"] == 0
    await provider.aclose()


async def test_every_token_is_redacted_like_a_key(
    vsim: RunningSimulator, account: dict[str, Any]
) -> None:
    redactor = Redactor("")
    taught = Taught(ServiceAccountToken(account), redactor)
    headers = await taught.headers()
    token = headers["Authorization"].removeprefix("Bearer ")
    assert token.startswith("ya29.")
    echoed = f"denied for {token}; see https://x.example/?access={token}"
    assert token not in redactor.text(echoed)
    assert redactor.has_key(f"v1_{token}")  # an id carrying it would never be stored


async def test_media_too_big_to_send_inline_are_refused_before_paying(
    http: httpx.AsyncClient, vsim: RunningSimulator, account: dict[str, Any], tmp_path: Path
) -> None:
    provider = vertex(http, vsim, ServiceAccountToken(account), tmp_path)
    big = clip(tmp_path / "clip.mp4")
    big = MediaRef(big.kind, big.path, big.sha256, big.mime, INLINE_MAX + 1, big.name)
    with pytest.raises(ProviderRejected, match="7 MB") as refused:
        await provider.stage(big)
    assert refused.value.code == "too_large"
    state = (await http.get(f"{vsim.url}/_sim/state")).json()
    assert state["requests"] == 0  # not even a token was asked for
    await provider.aclose()


def settings(tmp_path: Path, **env: Any) -> Settings:
    return Settings(_env_file=None, provider="vertex", data_dir=tmp_path, **env)  # type: ignore[call-arg]


def test_the_settings_place_vertex_in_its_project_and_location(
    tmp_path: Path, account: dict[str, Any]
) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(account))
    dialect, token = vertex_setup(settings(tmp_path, google_application_credentials=key))
    assert isinstance(dialect, VertexDialect) and token.project == PROJECT
    assert dialect.collection() == f"/v1beta1/projects/{PROJECT}/locations/global/interactions"
    chosen = settings(
        tmp_path,
        google_application_credentials=key,
        vertex_project="other-project",
        vertex_location="europe-west4",
    )
    dialect, _ = vertex_setup(chosen)
    assert isinstance(dialect, VertexDialect)
    assert dialect.collection().startswith("/v1beta1/projects/other-project/locations/europe-west4")
    assert chosen.api_root == "https://europe-west4-aiplatform.googleapis.com"
    assert settings(tmp_path).api_root == "https://aiplatform.googleapis.com"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "GOOGLE_APPLICATION_CREDENTIALS must name"),
        ("not json", "cannot read"),
        ('{"type": "authorized_user"}', "not a service account key"),
    ],
)
def test_a_missing_or_wrong_key_file_stops_the_start_in_one_line(
    tmp_path: Path, content: str | None, says: str
) -> None:
    key = tmp_path / "key.json"
    if content is not None:
        key.write_text(content)
    env = {"google_application_credentials": key} if content is not None else {}
    with pytest.raises(SystemExit) as stopped:
        vertex_setup(settings(tmp_path, **env))
    assert says in str(stopped.value) and "\n" not in str(stopped.value)


def test_a_key_file_without_a_project_needs_the_setting(tmp_path: Path) -> None:
    info, _ = service_account("https://oauth2.example/token")
    del info["project_id"]
    key = tmp_path / "key.json"
    key.write_text(json.dumps(info))
    with pytest.raises(SystemExit, match="VIDEOBOT_VERTEX_PROJECT must be set"):
        vertex_setup(settings(tmp_path, google_application_credentials=key))
    dialect, _ = vertex_setup(
        settings(tmp_path, google_application_credentials=key, vertex_project="p1")
    )
    assert isinstance(dialect, VertexDialect) and dialect.project == "p1"


def test_each_provider_gets_its_dialect_and_only_vertex_a_token(
    tmp_path: Path, account: dict[str, Any]
) -> None:
    from pydantic import SecretStr

    from adapters.provider.dialects.google import GoogleDialect

    key = tmp_path / "key.json"
    key.write_text(json.dumps(account))
    vertex_settings = settings(tmp_path, google_application_credentials=key)
    dialect, credentials = provider_auth(vertex_settings)  # no VIDEO_API_KEY needed
    assert isinstance(dialect, VertexDialect) and isinstance(credentials, ServiceAccountToken)
    google = Settings(  # type: ignore[call-arg]
        _env_file=None, provider="google", video_api_key=SecretStr("AIza-x")
    )
    dialect, credentials = provider_auth(google)
    assert type(dialect) is GoogleDialect and credentials is None
    with pytest.raises(SystemExit, match="VIDEO_API_KEY must be set"):
        provider_auth(Settings(_env_file=None, provider="google"))  # type: ignore[call-arg]
