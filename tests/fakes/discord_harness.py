"""A whole videobot on Discord for tests: the fake Discord server, the real DiscordAdapter
(discord.py talking to the fake over loopback), and a real engine (SQLite ledger file, HTTP
provider, simulator on a fake clock) whose worker is stepped by hand."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import httpx
import yarl
from discord.gateway import DiscordWebSocket
from PIL import Image
from pydantic import SecretStr

from adapters.discord.client import DiscordAdapter
from adapters.discord.identify import FileIdentifyGate
from adapters.media.intake import MediaIntake
from adapters.simulator.server import RunningSimulator
from bot.access import AccessPolicy
from bot.config import Settings
from bot.ledger import TaskQuery
from bot.policy import WorkerPolicy
from bot.ports import Chat
from bot.service import VideoService
from bot.task import Task
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import make_provider
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_server import FakeDiscord, start_fake_discord


def png(width: int = 64, height: int = 48, colour: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def fake_discord(clock: FakeClock) -> AsyncIterator[FakeDiscord]:
    """The fake server; discord.py's class-level endpoints are restored afterwards."""
    base, gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    fake, runner = await start_fake_discord(clock.now)
    try:
        yield fake
    finally:
        await runner.cleanup()
        discord.http.Route.BASE = base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(str(gateway))


def discord_settings(fake: FakeDiscord, data_dir: Path, **overrides: Any) -> Settings:
    """`overrides` are further settings by name, e.g. provider="google"."""
    return Settings(
        VIDEOBOT_FETCH_ALLOW_LOOPBACK=True,  # the fake CDN is on loopback
        _env_file=None,  # no .env from the developer's checkout
        discord_token=SecretStr(p.BOT_TOKEN),
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
        discord_guild_id=p.GUILD_ID,
        data_dir=data_dir,
        **overrides,
    )


@dataclass
class DiscordBot:
    fake: FakeDiscord
    settings: Settings
    ledger: SqliteLedger
    worker: Worker
    service: VideoService
    clock: FakeClock
    sim: RunningSimulator
    chats: dict[str, Chat]
    adapter: DiscordAdapter | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _serving: asyncio.Task[None] | None = None
    adapter_options: dict[str, Any] = field(default_factory=dict)

    async def start(self) -> DiscordAdapter:
        """Build and connect a fresh adapter (a process start, as far as Discord can tell)."""
        intake = MediaIntake(self.settings.media_dir, self.settings.profile())
        # A restart within 5 s would wait out Discord's identify spacing in real time: the
        # spacing has its own tests (test_identify_gate, test_shard_processes).
        gate = FileIdentifyGate(self.settings.data_dir / "discord-identify", spacing=timedelta(0))
        options = {"identify_gate": gate, **self.adapter_options}
        adapter = DiscordAdapter(
            self.settings, self.service, intake, guild_ready_timeout=0.05, **options
        )
        self.chats["discord"] = adapter.chat
        self.fake.identified.clear()
        self._stop = asyncio.Event()
        self._serving = asyncio.create_task(adapter.serve(self._stop))
        ready = asyncio.create_task(self._ready(adapter))
        done, _ = await asyncio.wait(
            {ready, self._serving}, timeout=10, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if self._serving in done:
                await self._serving  # raises what stopped the client
            raise AssertionError(f"the client did not connect; requests: {self.fake.requests}")
        self.adapter = adapter
        return adapter

    async def _ready(self, adapter: DiscordAdapter) -> None:
        await self.fake.identified.wait()
        await adapter.client.wait_until_ready()

    async def stop(self) -> None:
        if self._serving is not None:
            self._stop.set()
            await self._serving
            self._serving = None

    async def restart(self) -> DiscordAdapter:
        await self.stop()
        return await self.start()

    async def run_until_idle(self, step_seconds: float = 1.0, max_steps: int = 5000) -> None:
        for _ in range(max_steps):
            await self.worker.step()
            if await self.ledger.next_due_at() is None:
                return
            self.clock.advance(step_seconds)
        raise AssertionError("the worker did not finish within the step budget")

    async def tasks(self) -> list[Task]:
        return await self.ledger.find(TaskQuery(limit=1000))

    async def only_task(self) -> Task:
        tasks = await self.tasks()
        assert len(tasks) == 1, tasks
        return tasks[0]


async def answered(bot: DiscordBot, payload: p.Json) -> str:
    """Deliver an interaction; return the ephemeral answer (follow-up or immediate reply)."""
    before = len(bot.fake.followups)
    await bot.fake.interact(payload)

    def done() -> bool:
        callback = bot.fake.callback_for(payload)
        return len(bot.fake.followups) > before or (callback is not None and callback.type == 4)

    await bot.fake.wait_for(done)
    callback = bot.fake.callback_for(payload)
    if callback is not None and callback.type == 4:
        assert callback.data["flags"] & 64  # ephemeral
        return str(callback.data["content"])
    return str(bot.fake.followups[-1]["content"])


async def modal_for(bot: DiscordBot, payload: p.Json) -> tuple[str, str]:
    """Deliver an interaction that must answer with a modal; return (modal id, input id)."""
    await bot.fake.interact(payload)
    await bot.fake.wait_for(lambda: bot.fake.callback_for(payload) is not None)
    callback = bot.fake.callback_for(payload)
    assert callback is not None and callback.type == 9, callback
    field = callback.data["components"][0]
    text_input = field.get("component") or field["components"][0]  # label or action row
    return callback.data["custom_id"], text_input["custom_id"]


@contextlib.asynccontextmanager
async def discord_bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    *,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    policy: WorkerPolicy,
    access: AccessPolicy | None = None,
    settings_overrides: dict[str, Any] | None = None,
    service_options: dict[str, Any] | None = None,
    **adapter_options: Any,
) -> AsyncIterator[DiscordBot]:
    async with fake_discord(clock) as fake:
        chats: dict[str, Chat] = {}
        worker = Worker(
            ledger,
            make_provider(http, sim.url),
            chats,
            policy,
            clock.now,
            scratch_dir=tmp_path / "scratch",
            rng=random.Random(3),
        )
        settings = discord_settings(fake, tmp_path / "data", **(settings_overrides or {}))
        service = VideoService(
            ledger,
            policy,
            clock.now,
            worker.wake,
            access,
            settings.profile(),
            **(service_options or {}),  # prices, a confirmation threshold
        )
        bot = DiscordBot(
            fake,
            settings,
            ledger,
            worker,
            service,
            clock,
            sim,
            chats,
            adapter_options=adapter_options,
        )
        await bot.start()
        try:
            yield bot
        finally:
            await bot.stop()
