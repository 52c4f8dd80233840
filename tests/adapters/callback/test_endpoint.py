"""The callback endpoint end to end: a real server on loopback, the real worker and ledger, and
requests signed the way each provider signs (the simulator's keys; its JWKS fetched through the
SSRF-safe fetcher). A valid callback makes the task due at once (the worker polls it without
waiting for its scheduled poll); a bad, missing or stale signature does not; a replay does
nothing; nothing a sender wrote is echoed back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.callback.endpoint import CallbackEndpoint
from adapters.callback.kinds import verifier
from adapters.callback.server import CallbackServer
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.simulator import signing
from bot.domain import RENDERING_STATES, TaskState
from bot.task import Task
from tests.bot.test_hurry import CALLBACK_POLICY, RENDER_ENDS
from tests.conftest import Engine, EngineFactory, t2v, target

SECRET = signing.WEBHOOK_SECRET


@dataclass
class Hooked:
    engine: Engine
    url: str
    http: httpx.AsyncClient
    task: Task

    @property
    def ptid(self) -> str:
        assert self.task.provider_task_id is not None
        return self.task.provider_task_id

    async def post(self, provider: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(
            f"{self.url}/callbacks/{provider}", content=body, headers=headers
        )

    async def polled_at_once(self) -> bool:
        """Did the callback make the task due now (rather than at its safety-net poll)?"""
        return await self.engine.worker.step() == 1


def event(task_id: str) -> bytes:
    return json.dumps({"type": "video.completed", "data": {"id": task_id}}).encode()


@pytest.fixture
async def hooked(make_engine: EngineFactory) -> AsyncIterator[Hooked]:
    engine = make_engine(policy=CALLBACK_POLICY)
    jwks = f"{engine.sim.url}/.well-known/jwks.json"
    policy = FetchPolicy(allow_loopback=True, hosts={"jwks": ("127.0.0.1",)})
    async with SafeFetcher(policy) as fetcher, httpx.AsyncClient(trust_env=False) as http:
        audience = "https://bot.example/callbacks/google"
        common: dict[str, Any] = {"fetcher": fetcher, "google_jwks": jwks, "fal_jwks": (jwks,)}
        verifiers = {
            "guide": verifier("standard", audience="", secret=SECRET, **common),
            "google": verifier("google", audience=audience, secret=SECRET, **common),
            "fal": verifier("fal", audience="", secret=None, **common),
            "evolink": verifier("evolink", audience="", secret=None, **common),
        }
        endpoint = CallbackEndpoint(verifiers, engine.worker.hurry, max_body=4096)
        server = CallbackServer(endpoint.routes(), "127.0.0.1", 0)
        await server.start()
        task, _ = await engine.service.accept(t2v(), target(), "evt-callback")
        await engine.worker.step()  # submitted; its first poll is two minutes away
        stored = await engine.ledger.get(task.task_id)
        assert stored is not None and stored.provider_task_id is not None
        engine.clock.advance(RENDER_ENDS + 0.5)  # the provider finished; nobody knows yet
        try:
            yield Hooked(engine, server.url, http, stored)
        finally:
            await server.close()


async def test_a_valid_standard_webhook_makes_the_task_due_and_the_poll_delivers_it(
    hooked: Hooked,
) -> None:
    body = event(hooked.ptid)
    answer = await hooked.post("guide", body, signing.standard_headers("msg_1", body))
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    assert await hooked.polled_at_once()
    await hooked.engine.worker.step()
    done = await hooked.engine.ledger.get(hooked.task.task_id)
    assert done is not None and done.state is TaskState.DELIVERED


@pytest.mark.parametrize(
    "forge",
    ["wrong secret", "no signature", "stale", "altered body", "garbage signature"],
)
async def test_a_bad_or_missing_signature_is_refused_and_changes_nothing(
    hooked: Hooked, forge: str
) -> None:
    body = event(hooked.ptid)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    headers = signing.standard_headers("msg_1", body, other if forge == "wrong secret" else SECRET)
    if forge == "no signature":
        del headers["webhook-signature"]
    elif forge == "stale":  # a capture replayed ten minutes later
        headers = signing.standard_headers(
            "msg_1", body, at=datetime.now(UTC) - timedelta(minutes=10)
        )
    elif forge == "altered body":
        body = event("task_someone_elses")
    elif forge == "garbage signature":
        headers["webhook-signature"] = "v1 no-comma %%%"
    answer = await hooked.post("guide", body, headers)
    assert answer.status_code == 401
    assert answer.json() == {"error": "signature"}  # a fixed word: nothing of theirs echoed
    assert not await hooked.polled_at_once()
    stored = await hooked.engine.ledger.get(hooked.task.task_id)
    assert stored == hooked.task


async def test_a_replayed_delivery_does_nothing(hooked: Hooked) -> None:
    hooked.engine.clock.advance(-RENDER_ENDS)  # an early notice: the poll will find it running
    body = event(hooked.ptid)
    headers = signing.standard_headers("msg_once", body)
    assert (await hooked.post("guide", body, headers)).status_code == 200
    assert await hooked.polled_at_once()  # one extra poll: the most a callback can cost
    running = await hooked.engine.ledger.get(hooked.task.task_id)
    assert running is not None and running.state in RENDERING_STATES  # the poll decided
    for _ in range(3):
        assert (await hooked.post("guide", body, headers)).status_code == 200
    assert not await hooked.polled_at_once()
    assert await hooked.engine.ledger.get(hooked.task.task_id) == running


async def test_google_per_request_jwt_against_the_published_keys(hooked: Hooked) -> None:
    claims = {"type": "interaction.completed", "data": {"id": hooked.ptid}}
    body = json.dumps(claims).encode()
    wrong_audience = signing.google_jwt_headers("d1", "https://elsewhere.example/cb", claims)
    assert (await hooked.post("google", body, wrong_audience)).status_code == 401
    assert not await hooked.polled_at_once()

    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"aud": "https://bot.example/callbacks/google", "exp": 9_999_999_999, **claims},
        forged_key,
        algorithm="RS256",
        headers={"kid": signing.GOOGLE_KID},
    )
    answer = await hooked.post("google", body, {"webhook-id": "d2", "webhook-signature": forged})
    assert answer.status_code == 401
    assert not await hooked.polled_at_once()

    genuine = signing.google_jwt_headers("d3", "https://bot.example/callbacks/google", claims)
    bearer = {"Authorization": f"Bearer {genuine['webhook-signature']}", "webhook-id": "d3"}
    assert (await hooked.post("google", body, bearer)).status_code == 200  # the other reading
    assert await hooked.polled_at_once()


async def test_google_static_webhooks_are_hmac_signed(hooked: Hooked) -> None:
    body = event(hooked.ptid)
    assert (await hooked.post("google", body, signing.standard_headers("s1", body))).is_success
    assert await hooked.polled_at_once()


async def test_fal_ed25519_over_its_message(hooked: Hooked) -> None:
    body = json.dumps({"request_id": hooked.ptid, "status": "OK"}).encode()
    tampered = body.replace(b"OK", b"KO")
    headers = signing.fal_headers(hooked.ptid, body)
    assert (await hooked.post("fal", tampered, headers)).status_code == 401
    stale = signing.fal_headers(hooked.ptid, body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert (await hooked.post("fal", body, stale)).status_code == 401
    assert not await hooked.polled_at_once()
    assert (await hooked.post("fal", body, headers)).status_code == 200
    assert await hooked.polled_at_once()


async def test_unsigned_callbacks_cost_at_most_one_poll_per_window(hooked: Hooked) -> None:
    hooked.engine.clock.advance(-RENDER_ENDS)
    for n in range(5):  # anyone can send these: vary the body so each is a new delivery
        body = json.dumps({"id": hooked.ptid, "status": "completed", "n": n}).encode()
        assert (await hooked.post("evolink", body, {})).status_code == 200
    assert await hooked.polled_at_once()
    assert not await hooked.polled_at_once()
    stranger = json.dumps({"id": "task_not_ours", "status": "completed"}).encode()
    assert (await hooked.post("evolink", stranger, {})).status_code == 200
    assert not await hooked.polled_at_once()


async def test_unknown_providers_huge_bodies_and_junk_are_answered_without_echo(
    hooked: Hooked,
) -> None:
    secretish = b"sk-canary-0042"
    assert (await hooked.post("acme", secretish, {})).status_code == 404
    big = (await hooked.post("evolink", b"{" + b" " * 5000 + b"}", {})).status_code
    assert big == 413
    junk = await hooked.post("evolink", secretish, {})
    assert junk.status_code == 400
    assert b"canary" not in junk.content
    assert not await hooked.polled_at_once()


async def test_keys_out_of_reach_answer_503_so_the_sender_retries(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    # Not on the allowlist: the fetcher refuses it before anything is sent.
    policy = FetchPolicy(allow_loopback=True, hosts={"jwks": ("keys.example",)})
    async with SafeFetcher(policy) as fetcher, httpx.AsyncClient(trust_env=False) as http:
        jwks = f"{engine.sim.url}/.well-known/jwks.json"
        fal = verifier(
            "fal", audience="", secret=None, fetcher=fetcher, google_jwks=jwks, fal_jwks=(jwks,)
        )
        endpoint = CallbackEndpoint({"fal": fal}, engine.worker.hurry)
        server = CallbackServer(endpoint.routes(), "127.0.0.1", 0)
        await server.start()
        try:
            body = b'{"request_id": "r1"}'
            answer = await http.post(
                f"{server.url}/callbacks/fal", content=body, headers=signing.fal_headers("r1", body)
            )
        finally:
            await server.close()
    assert answer.status_code == 503


async def test_a_client_that_drips_its_body_is_cut_off(make_engine: EngineFactory) -> None:
    engine = make_engine(policy=CALLBACK_POLICY)
    endpoint = CallbackEndpoint({"evolink": _Unsigned()}, engine.worker.hurry, body_seconds=0.3)
    server = CallbackServer(endpoint.routes(), "127.0.0.1", 0)
    await server.start()
    try:
        host, port = server.url.split("//", 1)[1].split(":")
        reader, writer = await asyncio.open_connection(host, int(port.split("/")[0]))
        writer.write(b"POST /callbacks/evolink HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)  # answered, not held open
        writer.close()
        assert status.startswith(b"HTTP/1.1 408")
    finally:
        await server.close()


class _Unsigned:
    async def verify(self, headers: object, body: bytes) -> object:
        raise AssertionError("never reached: the body never arrives")


async def test_a_signed_body_that_is_not_json_is_a_bad_request_and_changes_nothing(
    hooked: Hooked,
) -> None:
    body = b"not json"
    answer = await hooked.post("guide", body, signing.standard_headers("msg_bad", body))
    assert (answer.status_code, answer.json()) == (400, {"error": "malformed"})
    assert not await hooked.polled_at_once()
