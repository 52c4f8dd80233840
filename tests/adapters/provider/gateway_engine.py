"""One engine per gateway for the contract tests of apimart, evolink and fal: the simulator
speaking that gateway on loopback (on the fake clock), the HTTP provider set up from the
gateway's profile as the composition root sets it up, and a worker and service around them."""

from __future__ import annotations

import io
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import httpx
from PIL import Image

from adapters.media.intake import MediaIntake
from adapters.provider.client import HttpProvider
from adapters.provider.dialects import dialect_for
from adapters.simulator.knobs import SimConfig
from adapters.simulator.mp4 import render_mp4
from adapters.simulator.server import start_simulator
from bot.domain import MediaRef, Mode, Profile, TaskState, VideoRequest
from bot.price_book import PriceBook, start_prices
from bot.pricing import PriceTable
from bot.providers import PROVIDERS
from bot.service import VideoService
from bot.task import Task
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import (
    SIM_KEY,
    TEST_POLICY,
    Engine,
    fake_clock_worker,
    loopback_fetcher,
    target,
)
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock
from tests.paths import PAYLOADS


def recorded(name: str) -> Any:
    """A gateway's published answer, kept under tests/payloads/upstream/."""
    return json.loads((PAYLOADS / "upstream" / f"{name}.json").read_text())


@asynccontextmanager
async def gateway_engine(
    name: str,
    tmp_path: Path,
    clock: FakeClock,
    callback_url: str | None = None,
    priced: bool = False,
    prices: PriceTable | None = None,
    in_ledger: bool = False,
    **knobs: Any,
) -> AsyncIterator[Engine]:
    """`priced`: the service and the worker price tasks with the profile's price table, or
    with `prices` (the operator's, from VIDEOBOT_PRICES) when given; `in_ledger`: those are
    seeded into the ledger and read from there, as the engine does."""
    profile = PROVIDERS[name]
    prices = (prices or profile.prices) if priced else PriceTable()
    policy = replace(TEST_POLICY, prices=prices)
    settings: dict[str, Any] = {"render_seconds": 20, "queue_seconds": 2, "video_height": 32}
    config = SimConfig(dialect=name, api_key=SIM_KEY, seed=7, **{**settings, **knobs})
    sim = await start_simulator(config, clock=clock.monotonic)
    try:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http,
            loopback_fetcher() as fetcher,
            SqliteLedger.open(tmp_path / "ledger.db") as ledger,
        ):
            provider = HttpProvider(
                http,
                dialect_for(name, profile.model),
                base_url=sim.url,
                api_key=SIM_KEY,
                model=profile.model,
                auth=profile.auth,
                media=profile.media,
                callback_url=callback_url,
                retry_base=0.01,
                rng=random.Random(1),
                fetcher=fetcher,
            )
            chat = FakeChat()
            table: PriceTable | PriceBook = prices
            if in_ledger:
                table = await start_prices(ledger, name, prices, clock.now)
                policy = replace(policy, price_book=table)
            worker = fake_clock_worker(ledger, provider, chat, clock, tmp_path / "scratch", policy)
            service = VideoService(
                ledger, policy, clock.now, worker.wake, profile=profile.allows, prices=table
            )
            yield Engine(ledger, provider, worker, service, chat, clock, sim)
    finally:
        await sim.close()


async def image(tmp_path: Path, name: str = "cat.png", shade: int = 120) -> MediaRef:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, shade, 200)).save(buffer, "PNG")
    return await MediaIntake(tmp_path / "media", Profile()).from_bytes(buffer.getvalue(), name)


async def clip(tmp_path: Path) -> MediaRef:
    data = render_mp4("the source clip", "16:9", 3, 32)
    return await MediaIntake(tmp_path / "media", Profile()).from_bytes(data, "clip.mp4")


async def finished(engine: Engine, ref: str) -> Task:
    await engine.run_until_idle()
    task = await engine.ledger.get(ref)
    assert task is not None
    return task


def assert_delivered_mp4(engine: Engine, task: Task, seconds: int, portrait: bool = False) -> None:
    """The task ended delivered, and the file the user got is a decodable MP4 of that shape."""
    assert task.state is TaskState.DELIVERED, (task.state, task.error_message)
    upload = next(u for u in engine.chat.uploads if u.key == task.nonce("v"))
    with av.open(io.BytesIO(upload.data)) as container:
        stream = container.streams.video[0]
        assert (stream.height > stream.width) is portrait
        frames = sum(1 for _ in container.decode(stream))
    assert frames == seconds * 24


POLICY_REASON = "The prompt was flagged by the content safety system."


async def refused_prompt(name: str, tmp_path: Path, clock: FakeClock, prompt: str) -> Task:
    """A prompt the simulator's policy words refuse, run to its end on gateway `name`."""
    async with gateway_engine(name, tmp_path, clock) as engine:
        request = VideoRequest(prompt, Mode.T2V, "16:9", 8)
        task, _ = await engine.service.accept(request, target(), "evt")
        ended = await finished(engine, task.ref)
        assert not engine.chat.uploads
        return ended
