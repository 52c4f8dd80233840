"""The simulator calls back when a task ends, signed the way each provider signs (keys the
tests know), at least once: a refused delivery is tried again under the same delivery id, and
the fault knobs drop or duplicate deliveries. Fake clock; a real receiver on loopback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from standardwebhooks import Webhook

from adapters.simulator import signing
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from adapters.simulator.state import SimTask
from tests.conftest import SIM_KEY
from tests.fakes.clock import FakeClock
from tests.fakes.receiver import Receiver, receiver

GEN = "/v1/videos/generations"


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as running:
        yield running


@pytest.fixture
async def simulated(clock: FakeClock) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(
        SimConfig(render_seconds=10, queue_seconds=1, api_key=SIM_KEY, seed=3),
        clock=clock.monotonic,
    )
    yield running
    await running.close()


def task(sim: RunningSimulator, dialect: str, url: str | None, fate: str = "succeed") -> SimTask:
    """A task as a speaker would leave it: created now, its callback URL from the submit."""
    made = SimTask(
        task_id=f"task_{dialect}_{len(sim.simulator.tasks)}",
        dialect=dialect,
        created=sim.simulator.clock(),
        created_wall=datetime.now(UTC),
        render_seconds=10,
        queue_seconds=1,
        fate=fate,
        model="m",
        mode="text-to-video",
        prompt="p",
        duration=6,
        aspect_ratio="16:9",
        image_count=0,
        callback_url=url,
    )
    sim.simulator.tasks[made.task_id] = made
    return made


async def jwks(sim: RunningSimulator) -> dict[str, Any]:
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.get(f"{sim.url}/.well-known/jwks.json")
    assert answer.status_code == 200  # no API key: it is public
    data: dict[str, Any] = answer.json()
    return data


async def test_a_gateway_task_submitted_with_a_callback_url_is_posted_signed_when_it_ends(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    body = {"model": "gemini_omni_flash", "prompt": "p", "duration": 6}
    body["callback_url"] = f"{hook.url}/callbacks/guide"
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.post(
            f"{simulated.url}{GEN}", json=body, headers={"Authorization": f"Bearer {SIM_KEY}"}
        )
    task_id = answer.json()["id"]
    assert await simulated.simulator.callbacks.send_due() == 0  # not ended yet
    clock.advance(11)
    assert await simulated.simulator.callbacks.send_due() == 1
    [got] = await hook.wait_for(1)
    assert got.path == "/callbacks/guide"
    event = Webhook(signing.WEBHOOK_SECRET).verify(got.body, got.headers)
    assert event["data"] == {"id": task_id, "status": "completed"}
    await simulated.simulator.callbacks.settle()
    assert simulated.simulator.stats.callbacks_sent == 1


async def test_google_per_request_webhooks_carry_an_rs256_jwt_for_the_url_they_go_to(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    url = f"{hook.url}/callbacks/google"
    made = task(simulated, "google", url, fate="policy")
    clock.advance(6.5)  # a refused render ends halfway
    await simulated.simulator.callbacks.send_due()
    [got] = await hook.wait_for(1)
    token = got.headers["webhook-signature"]
    header = jwt.get_unverified_header(token)
    [key] = [k for k in (await jwks(simulated))["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience=url)
    assert claims["jti"] == got.headers["webhook-id"]
    assert json.loads(got.body)["data"] == {"id": made.task_id, "status": "failed"}
    assert json.loads(got.body)["type"] == "interaction.failed"


async def test_fal_signs_ed25519_over_its_message_and_evolink_does_not_sign(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    fal = task(simulated, "fal", f"{hook.url}/callbacks/fal")
    task(simulated, "evolink", f"{hook.url}/callbacks/evolink")
    clock.advance(11)
    await simulated.simulator.callbacks.send_due()
    received = {r.path: r for r in await hook.wait_for(2)}
    signed = received["/callbacks/fal"]
    h = {k.lower(): v for k, v in signed.headers.items()}
    assert h["x-fal-webhook-request-id"] == fal.task_id
    message = "\n".join(
        (
            fal.task_id,
            h["x-fal-webhook-user-id"],
            h["x-fal-webhook-timestamp"],
            hashlib.sha256(signed.body).hexdigest(),
        )
    ).encode()
    [okp] = [k for k in (await jwks(simulated))["keys"] if k["kty"] == "OKP"]
    public = jwt.PyJWK(okp).key
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(bytes.fromhex(h["x-fal-webhook-signature"]), message)  # raises if forged
    unsigned = received["/callbacks/evolink"]
    assert not any("signature" in name.lower() for name in unsigned.headers)
    assert json.loads(unsigned.body)["status"] == "completed"


async def test_a_static_webhook_hears_of_every_task_and_a_never_ending_one_is_never_posted(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    sim = simulated.simulator
    sim.config = replace(sim.config, webhook_url=f"{hook.url}/static")
    done = task(simulated, "google", None)
    task(simulated, "guide", None, fate="never")
    clock.advance(60)
    assert await sim.callbacks.send_due() == 1
    [got] = await hook.wait_for(1)
    assert Webhook(signing.WEBHOOK_SECRET).verify(got.body, got.headers)["data"]["id"] == (
        done.task_id
    )


async def test_a_refused_delivery_is_tried_again_under_the_same_delivery_id(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    hook.statuses = [500, 503]
    task(simulated, "guide", f"{hook.url}/cb")
    clock.advance(11)
    await simulated.simulator.callbacks.send_due()
    first, second, third = await hook.wait_for(3)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers[
        "webhook-id"
    ]
    await simulated.simulator.callbacks.settle()
    stats = simulated.simulator.stats
    assert (stats.callbacks_sent, stats.callback_attempts, stats.callbacks_failed) == (1, 3, 0)


async def test_the_fault_knobs_drop_or_duplicate_deliveries(
    simulated: RunningSimulator, hook: Receiver, clock: FakeClock
) -> None:
    sim = simulated.simulator
    sim.config = replace(sim.config, callback_drop=1.0)
    task(simulated, "guide", f"{hook.url}/lost")
    clock.advance(11)
    assert await sim.callbacks.send_due() == 0
    sim.config = replace(sim.config, callback_drop=0.0, callback_duplicates=1.0)
    task(simulated, "guide", f"{hook.url}/twice")
    clock.advance(11)
    assert await sim.callbacks.send_due() == 2
    one, two = await hook.wait_for(2)
    assert one.headers["webhook-id"] == two.headers["webhook-id"]
    assert {one.path, two.path} == {"/twice"}


async def test_a_callback_url_that_is_not_a_url_is_refused(simulated: RunningSimulator) -> None:
    body = {"model": "gemini_omni_flash", "prompt": "p", "duration": 6, "callback_url": "ftp://x"}
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.post(
            f"{simulated.url}{GEN}", json=body, headers={"Authorization": f"Bearer {SIM_KEY}"}
        )
    assert answer.status_code == 400
    assert "callback_url" in answer.json()["error"]["message"]
    assert simulated.simulator.stats.tasks_created == 0
