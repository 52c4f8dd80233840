"""Composition root and CLI: `videobot run | demo | simulate | tasks | doctor`.
The only module of bot/ that may import adapters and storage: it wires them to the core."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from adapters.console.session import PLATFORM as CONSOLE
from adapters.console.session import ConsoleChat, ConsoleSession
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.intake import MediaIntake
from adapters.media.retention import MediaJanitor
from adapters.ops.doctor import run_doctor
from adapters.ops.metrics import MetricsServer, PrometheusObserver
from adapters.ops.tasks import run_tasks_command
from adapters.provider.client import HttpProvider
from adapters.provider.wiring import provider_auth
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator, start_simulator
from bot import cli, logs, supervisor
from bot.config import Settings
from bot.media import MAX_VIDEO_BYTES
from bot.policy import WorkerPolicy
from bot.ports import Chat, NullObserver, Observer
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import LedgerError, SqliteLedger
from storage.sqlite.lock import LedgerBusy, owning

log = logging.getLogger("videobot")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Engine:
    ledger: SqliteLedger
    provider: HttpProvider
    worker: Worker
    service: VideoService
    chats: dict[str, Chat]
    observer: Observer
    janitor: MediaJanitor
    metrics: MetricsServer | None = None

    health: supervisor.Health = field(default_factory=supervisor.Health)

    def parts(self, stop: asyncio.Event) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """What every serving command runs until `stop`: the worker, and `/metrics` +
        `/healthz` when VIDEOBOT_METRICS_PORT is set."""
        parts: list[Callable[[], Coroutine[Any, Any, None]]] = [
            functools.partial(self.worker.run, stop),
            functools.partial(self.janitor.run, stop),
        ]
        if self.metrics is not None:
            parts.append(functools.partial(self.metrics.serve, stop))
        return parts


@contextlib.asynccontextmanager
async def open_engine(
    settings: Settings,
    policy: WorkerPolicy | None = None,
    clock: Callable[[], datetime] = utc_now,
    platforms: frozenset[str] | None = None,
) -> AsyncIterator[Engine]:
    """Ledger + provider + worker + service on one settings object; chats are attached after
    (adapters need the service, the worker needs the adapters). The ledger is this process's
    alone while the engine is open (LedgerBusy otherwise); with `platforms`, the worker sees
    only those platforms' tasks."""
    dialect, credentials = provider_auth(settings)  # stops here if a setting cannot work
    writable_dirs(
        ("VIDEOBOT_DATA_DIR", settings.data_dir),
        ("VIDEOBOT_DB", settings.ledger_path.parent),
    )
    policy = policy or settings.worker_policy()
    observer: Observer = NullObserver() if settings.metrics_port is None else PrometheusObserver()
    chats: dict[str, Chat] = {}
    timeout = httpx.Timeout(settings.http_timeout, connect=10.0)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    fetch_policy = FetchPolicy(
        allow_loopback=settings.fetch_allow_loopback,
        max_bytes=max(policy.max_video_bytes, MAX_VIDEO_BYTES),
    )
    async with (
        owning(settings.ledger_path),  # before any recovery touches a row
        SqliteLedger.open(settings.ledger_path, platforms) as ledger,
        httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as http,
        SafeFetcher(fetch_policy) as fetcher,
    ):
        provider = HttpProvider(
            http,
            dialect,
            base_url=settings.api_root or "",
            api_key=settings.video_api_key.get_secret_value() if settings.video_api_key else "",
            credentials=credentials,
            model=settings.model_id,
            resolution=settings.profile().default_resolution,
            auth=settings.provider_profile.auth,
            media=settings.provider_profile.media,
            upload_path=settings.upload_path,
            idempotency_header=settings.idempotency_header,
            retry_base=settings.retry_base_seconds,
            total_timeout=settings.provider_timeout,
            observer=observer,
            fetcher=fetcher,
            spill_dir=settings.data_dir / "tmp" / "spill",  # inline results, decoded to disk
        )
        worker = Worker(
            ledger,
            provider,
            chats,
            policy,
            clock,
            scratch_dir=settings.data_dir / "tmp",
            resubmit_safe=provider.resubmit_safe,
            observer=observer,
        )
        service = VideoService(
            ledger, policy, clock, worker.wake, settings.access_policy(), settings.profile()
        )
        metrics, health = None, supervisor.Health()
        if isinstance(observer, PrometheusObserver) and settings.metrics_port is not None:
            # Bound before anything is served, so a taken port stops the start cleanly.
            metrics = MetricsServer(
                observer, ledger, settings.metrics_host, settings.metrics_port, health=health
            )
            await metrics.start()
        try:
            janitor = MediaJanitor(ledger, settings.media_dir, settings.media_retention, clock)
            yield Engine(
                ledger, provider, worker, service, chats, observer, janitor, metrics, health
            )
        finally:
            if metrics is not None:
                await metrics.close()


def writable_dirs(*named: tuple[str, Path]) -> None:
    """Make each folder (and its parents) or stop with one plain line naming the setting: a
    folder that is a file, or unwritable, would otherwise fail every task in the worker."""
    for setting, path in named:
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".videobot-write-check-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as err:
            raise SystemExit(
                f"{setting}: cannot use {path} as a folder ({err.strerror}); point it at a "
                "folder videobot may create and write"
            ) from None


async def demo(settings: Settings) -> int:
    """The console chat against the built-in simulator (or a real API when configured)."""
    simulator = None
    if not settings.video_api_url:
        # The demo keeps its ledger and the simulator's memory in the data folder, so a demo
        # killed mid-task and started again finishes what it left (and `videobot tasks` with
        # VIDEOBOT_DB=<data>/demo.db shows them).
        writable_dirs(("VIDEOBOT_DATA_DIR", settings.data_dir))
        simulator = await _demo_simulator(settings)
        settings = settings.model_copy(
            update={
                "video_api_url": simulator.url,
                "video_api_key": SecretStr("demo-key"),
                "idempotency_header": IDEMPOTENCY_HEADER,
                # The built-in simulator serves results from loopback: the one exception.
                "fetch_allow_loopback": True,
                "db_path": settings.db_path or settings.data_dir / DEMO_DB,
            }
        )
    policy = replace(
        settings.worker_policy(),
        first_poll=timedelta(seconds=1),
        poll_ceiling=timedelta(seconds=2),
        predicted_ceiling=timedelta(seconds=2),  # the demo is about watching progress move
        status_interval=timedelta(seconds=1),
    )
    try:
        writable_dirs(("VIDEOBOT_OUTPUT_DIR", settings.output_dir))
        async with open_engine(settings, policy, platforms=frozenset({CONSOLE})) as engine:
            chat = ConsoleChat(sys.stdout, settings.output_dir)
            engine.chats[CONSOLE] = chat
            intake = MediaIntake(settings.media_dir, settings.profile())
            session = ConsoleSession(engine.service, intake, chat, settings.profile(), sys.stdout)
            stop = asyncio.Event()
            supervisor.stop_on_signals(stop)
            try:
                talk = functools.partial(session.converse, sys.stdin, stop)
                await supervisor.serve_until_stopped([*engine.parts(stop), talk], stop)
            finally:
                chat.close()  # progress bars off the screen; the thread lines stay
    finally:
        if simulator:
            await simulator.close()
    return 0


DEMO_DB = "demo.db"


async def _demo_simulator(settings: Settings) -> RunningSimulator:
    """The built-in simulator, on the port it had last time when that is free (result links
    the last run stored point there) and remembering the tasks it was given."""
    config = SimConfig(
        render_seconds=settings.demo_render_seconds,
        queue_seconds=min(1.0, settings.demo_render_seconds / 4),
        dialect=settings.dialect,
        state_file=str(settings.data_dir / "demo-simulator.json"),
    )
    port_file = settings.data_dir / "demo-simulator.port"
    try:
        return await start_simulator(config, port=int(port_file.read_text()))
    except (OSError, ValueError):
        pass  # no earlier run, or its port is taken now: any free one
    simulator = await start_simulator(config)
    port_file.write_text(simulator.url.rsplit(":", 1)[1])
    return simulator


async def simulate(args: argparse.Namespace) -> int:
    knobs = {f.name for f in fields(SimConfig)}
    given = {name: value for name, value in vars(args).items() if name in knobs}
    config = SimConfig(**given, honour_idempotency=not args.no_idempotency)
    running = await start_simulator(config, host=args.host, port=args.port)
    print(f"simulator listening on {running.url}  (state: {running.url}/_sim/state)", flush=True)
    stop = asyncio.Event()
    supervisor.stop_on_signals(stop)
    try:
        await stop.wait()
    finally:
        await running.close()
    return 0


def _platforms(settings: Settings) -> frozenset[str]:
    """The platforms `run` serves: its worker claims only their tasks (adapter PLATFORM names)."""
    configured = {"slack": settings.slack_bot_token, "discord": settings.discord_token}
    return frozenset(name for name, token in configured.items() if token is not None)


def _adapters(
    settings: Settings, engine: Engine, intake: MediaIntake
) -> list[supervisor.ChatAdapter]:
    adapters: list[supervisor.ChatAdapter] = []
    if settings.slack_bot_token is not None:
        from adapters.slack.app import SlackAdapter  # noqa: PLC0415  (SDK imported only when used)

        adapters.append(SlackAdapter(settings, engine.service, intake))
    if settings.discord_token is not None:
        from adapters.discord.client import DiscordAdapter  # noqa: PLC0415

        adapters.append(DiscordAdapter(settings, engine.service, intake))
    return adapters


async def run(settings: Settings) -> int:
    """Serve every configured platform and the worker in one TaskGroup until SIGTERM/SIGINT."""
    if settings.slack_bot_token is None and settings.discord_token is None:
        print(cli.NO_PLATFORM, file=sys.stderr)
        return 2
    stop = asyncio.Event()
    supervisor.stop_on_signals(stop)
    async with open_engine(settings, platforms=_platforms(settings)) as engine:
        intake = MediaIntake(settings.media_dir, settings.profile())
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.ERROR))  # SDK chatter; a refusal is one plain line
        try:
            adapters = _adapters(settings, engine, intake)
            await supervisor.check_all(adapters, stop)
        finally:
            root.setLevel(level)
        for adapter in adapters:
            engine.chats[adapter.platform] = adapter.chat
        parts = engine.parts(stop)
        parts += [functools.partial(supervisor.supervise, a, stop, engine.health) for a in adapters]
        log.info("videobot running: %s", ", ".join(a.platform for a in adapters))
        await supervisor.serve_until_stopped(parts, stop)
    if engine.health.fatal:
        raise supervisor.PlatformRefused(engine.health.fatal)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        print(cli.invalid_settings(err), file=sys.stderr)
        return 2
    quiet = args.command == "demo" and settings.log_level.upper() == "INFO"
    level = "WARNING" if quiet else settings.log_level
    logs.setup(level, settings.secret_values(), settings.log_format)
    try:
        if args.command == "demo":
            return asyncio.run(demo(settings))
        if args.command == "simulate":
            return asyncio.run(simulate(args))
        if args.command == "tasks":
            return asyncio.run(run_tasks_command(settings, args))
        if args.command in ("discord-sync", "invite"):
            from adapters.discord.setup import run_discord_setup  # noqa: PLC0415

            return asyncio.run(run_discord_setup(settings, args))
        if args.command == "doctor":
            return asyncio.run(run_doctor(settings, sys.stdout, offline=args.offline))
        return asyncio.run(run(settings))
    except (LedgerBusy, supervisor.PlatformRefused) as err:
        print(err, file=sys.stderr)  # one plain line: what to fix, never a secret
        return 1
    except LedgerError as err:
        log.error("%s", err)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
