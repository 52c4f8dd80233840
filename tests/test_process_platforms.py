"""`videobot run` as a real process against platforms that misbehave: a refused token is one
plain line and a non-zero exit; SIGTERM ends the process within 10 s with exit 0 whatever the
network does; a Discord event discord.py cannot parse takes down neither the process nor the
worker, the adapter comes back, and /healthz names it while it is down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.process_harness import bot_process, clean_env, run_bot

KEY = "sk-process-test-key-0002"
STOP_WITHIN = 10.0


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimConfig(render_seconds=1.0, queue_seconds=0.2, api_key=KEY))
    yield running
    await running.close()


def run_env(tmp_path: Path, sim: RunningSimulator, **extra: str) -> dict[str, str]:
    return clean_env(tmp_path, {"VIDEO_API_URL": sim.url, "VIDEO_API_KEY": KEY, **extra})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Blackhole:
    """Accepts TCP connections and never answers a byte (a hung platform)."""

    url: str
    connected: asyncio.Event


@contextlib.asynccontextmanager
async def blackhole(scheme: str = "http") -> AsyncIterator[Blackhole]:
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        connected.set()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Blackhole(f"{scheme}://127.0.0.1:{port}/", connected)
    finally:
        for writer in held:
            writer.close()
        server.close()


@contextlib.asynccontextmanager
async def refusing_discord() -> AsyncIterator[str]:
    """A Discord API that refuses every token (401), as Discord does a reset one."""

    async def refuse(_: web.Request) -> web.Response:
        body = json.dumps({"message": "401: Unauthorized", "code": 0})
        return web.Response(status=401, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/api/v10"
    finally:
        await runner.cleanup()


@dataclass
class GatedDiscord(FakeDiscord):
    """The fake Discord whose gateway can be closed to new connections (503)."""

    gateway_open: bool = True
    refused: int = 0

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        if not self.gateway_open:
            self.refused += 1
            self.changed.set()
            raise web.HTTPServiceUnavailable
        return await super()._gateway(request)


@contextlib.asynccontextmanager
async def gated_discord() -> AsyncIterator[GatedDiscord]:
    fake = GatedDiscord(clock=lambda: datetime.now(UTC))
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def assert_one_plain_line(err: str, setting: str, secret: str) -> None:
    assert err.strip().splitlines() == [err.strip()], err  # one line, nothing else
    assert setting in err
    assert "Traceback" not in err
    assert secret not in err


# -- start-up failures: one plain line ------------------------------------------------------------
async def test_a_refused_discord_token_is_one_line_for_run_invite_and_sync(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    token = "refused-discord-token.abcdef.0123456789"
    async with refusing_discord() as api:
        env = run_env(tmp_path, live_sim, DISCORD_TOKEN=token, DISCORD_API_URL=api)
        for command in (["run"], ["invite"], ["discord-sync", "--global"]):
            code, out, err = await run_bot(command, tmp_path, env)
            assert code != 0, (command, out, err)
            assert_one_plain_line(err, "DISCORD_TOKEN", token)


async def test_a_refused_slack_app_token_is_one_line(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    fake = await FakeSlack().start()
    try:
        wrong = "xapp-1-refused-app-token-0000"
        env = run_env(
            tmp_path,
            live_sim,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=wrong,
            SLACK_API_URL=fake.api_url,
        )
        code, _, err = await run_bot(["run"], tmp_path, env)
        assert code != 0
        assert_one_plain_line(err, "SLACK_APP_TOKEN", wrong)
        assert BOT_TOKEN not in err
    finally:
        await fake.close()


async def test_a_taken_slack_port_is_one_line(tmp_path: Path, live_sim: RunningSimulator) -> None:
    fake = await FakeSlack().start()
    secret = "slack-signing-secret-0001"
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env = run_env(
                tmp_path,
                live_sim,
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=secret,
                SLACK_API_URL=fake.api_url,
                SLACK_HOST="127.0.0.1",
                SLACK_PORT=str(taken.getsockname()[1]),
            )
            code, _, err = await run_bot(["run"], tmp_path, env)
        assert code != 0
        assert_one_plain_line(err, "SLACK_PORT", secret)
        assert BOT_TOKEN not in err
    finally:
        await fake.close()


# -- SIGTERM ends the process whatever the network does -------------------------------------------
async def test_sigterm_ends_run_while_slack_hangs(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    async with blackhole() as slack:
        env = run_env(
            tmp_path,
            live_sim,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=slack.url + "api/",
        )
        async with bot_process(["run"], tmp_path, env) as bot:
            async with asyncio.timeout(60):
                await slack.connected.wait()
            bot.signal(signal.SIGTERM)
            assert await bot.wait(within=STOP_WITHIN) == 0, bot.stderr()


async def test_sigterm_ends_run_while_the_discord_gateway_hangs(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    async with gated_discord() as fake, blackhole("ws") as gateway:
        env = run_env(
            tmp_path,
            live_sim,
            DISCORD_TOKEN=p.BOT_TOKEN,
            DISCORD_API_URL=fake.api_url,
            DISCORD_GATEWAY_URL=gateway.url,
        )
        async with bot_process(["run"], tmp_path, env) as bot:
            async with asyncio.timeout(60):
                await gateway.connected.wait()
            bot.signal(signal.SIGTERM)
            assert await bot.wait(within=STOP_WITHIN) == 0, bot.stderr()


async def test_sigterm_ends_run_while_the_discord_api_hangs(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    async with blackhole() as api:
        env = run_env(tmp_path, live_sim, DISCORD_TOKEN=p.BOT_TOKEN, DISCORD_API_URL=api.url)
        async with bot_process(["run"], tmp_path, env) as bot:
            async with asyncio.timeout(60):
                await api.connected.wait()
            bot.signal(signal.SIGTERM)
            assert await bot.wait(within=STOP_WITHIN) == 0, bot.stderr()
            assert "Traceback" not in bot.stderr()


async def test_sigterm_ends_run_in_discords_reconnect_backoff(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    """The gateway is lost and every reconnect is refused: discord.py sleeps a growing backoff
    (up to minutes) between attempts; SIGTERM must not wait it out."""
    async with gated_discord() as fake:
        env = run_env(
            tmp_path,
            live_sim,
            DISCORD_TOKEN=p.BOT_TOKEN,
            DISCORD_API_URL=fake.api_url,
            DISCORD_GATEWAY_URL=fake.gateway_url,
        )
        async with bot_process(["run"], tmp_path, env) as bot:
            async with asyncio.timeout(60):
                await fake.identified.wait()
            fake.gateway_open = False
            for ws in list(fake._sockets):
                await ws.close(code=4000)  # "unknown error": discord.py reconnects
            async with asyncio.timeout(120):
                while fake.refused < 4:  # four refusals: the next sleep is up to 32 s
                    fake.changed.clear()
                    await fake.changed.wait()
            bot.signal(signal.SIGTERM)
            assert await bot.wait(within=STOP_WITHIN) == 0, bot.stderr()


# -- one platform's failure is not the process's -------------------------------------------------
async def healthz(url: str, want: str, within: float = 60.0) -> dict[str, object]:
    """Poll /healthz (bounded) until its Discord entry starts with `want`."""
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(within):
        while True:
            with contextlib.suppress(httpx.TransportError):
                body: dict[str, object] = (await client.get(url)).json()
                platforms = body.get("platforms")
                if isinstance(platforms, dict) and str(platforms.get("discord")).startswith(want):
                    return body
            await asyncio.sleep(0.1)


async def test_a_malformed_discord_event_is_survived_and_healthz_names_the_part_down(
    tmp_path: Path, live_sim: RunningSimulator
) -> None:
    port = free_port()
    async with gated_discord() as fake:
        env = run_env(
            tmp_path,
            live_sim,
            DISCORD_TOKEN=p.BOT_TOKEN,
            DISCORD_API_URL=fake.api_url,
            DISCORD_GATEWAY_URL=fake.gateway_url,
            VIDEOBOT_METRICS_PORT=str(port),
            VIDEOBOT_FETCH_ALLOW_LOOPBACK="true",
        )
        url = f"http://127.0.0.1:{port}/healthz"
        malformed = {"type": 2, "token": "t0", "channel_id": str(p.CHANNEL_ID)}  # no id, no data
        async with bot_process(["run"], tmp_path, env) as bot:
            async with asyncio.timeout(60):
                await fake.identified.wait()
            # A task is accepted, then the gateway sends what discord.py cannot parse while the
            # task renders: the process lives on, the adapter reconnects, the video is posted.
            followups = len(fake.followups)
            await fake.interact(p.slash("video", [p.option("prompt", "a kite over dunes")]))
            await fake.wait_for(lambda: len(fake.followups) > followups, within=60)
            fake.identified.clear()
            await fake.dispatch("INTERACTION_CREATE", malformed)
            try:
                async with asyncio.timeout(60):
                    await fake.identified.wait()
            except TimeoutError:
                raise AssertionError(
                    f"Discord never came back (exit code {bot.proc.returncode}):\n{bot.stderr()}"
                ) from None
            assert bot.proc.returncode is None
            await fake.wait_for(
                lambda: any(m.get("attachments") for m in fake.messages.values()), within=60
            )
            # While it is down (its gateway held shut), /healthz names it; then it is up again.
            await healthz(url, "up")
            fake.identified.clear()
            fake.gateway_open = False
            await fake.dispatch("INTERACTION_CREATE", malformed)
            down = await healthz(url, "down")
            assert down["worker"] == "alive"
            assert bot.proc.returncode is None
            fake.gateway_open = True
            async with asyncio.timeout(60):
                await fake.identified.wait()
            await healthz(url, "up")
            bot.signal(signal.SIGTERM)
            assert await bot.wait(within=STOP_WITHIN) == 0, bot.stderr()
            assert bot.stderr().count("discord is down") == 2, bot.stderr()
