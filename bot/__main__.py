"""Composition root and CLI: `videobot run | demo | simulate | tasks | usage | doctor`. With
bot/engine.py (the wiring) and bot/platforms.py (the chat platforms `run` serves), the only
modules of bot/ that may import adapters and storage."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import timedelta
from typing import Any

from pydantic import SecretStr, ValidationError

from adapters.console.session import PLATFORM as CONSOLE
from adapters.console.session import ConsoleChat, ConsoleSession
from adapters.media.intake import MediaIntake
from adapters.ops.doctor import run_doctor
from adapters.ops.migrate import run_migrate_ledger
from adapters.ops.spend import run_usage_command
from adapters.ops.tasks import run_tasks_command
from adapters.provider.wiring import vertex_sign_in
from adapters.simulator.google_auth import demo_service_account
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import IDEMPOTENCY_HEADER, RunningSimulator, start_simulator
from bot import cli, logs, supervisor
from bot.config import Settings
from bot.engine import open_engine, writable_dirs
from bot.platforms import chat_adapters, chat_senders, serve_platforms
from storage.postgres.connect import PgLedgerError
from storage.sqlite.ledger import LedgerError
from storage.sqlite.lock import LedgerBusy

log = logging.getLogger("videobot")


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
                **_demo_vertex(settings, simulator.url),
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
    # A script learns that a line was refused (a typo in a flag, a file that is not an image)
    # or that a video still waits for its `confirm` (nothing was made of it).
    return 1 if (session.refused or session.waiting) and not sys.stdin.isatty() else 0


DEMO_DB = "demo.db"


def _demo_vertex(settings: Settings, url: str) -> dict[str, Any]:
    """On `vertex`, a throwaway service account key the simulator signs in (written beside the
    demo's ledger): Vertex AI takes no API key, and the demo needs none of yours."""
    if settings.provider_profile.auth != "oauth":
        return {}
    key = settings.data_dir / "demo-vertex-key.json"
    key.write_text(json.dumps(demo_service_account(f"{url}/oauth2/token")), encoding="utf-8")
    key.chmod(0o600)
    return {"google_application_credentials": key, "vertex_project": None}


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


async def run(settings: Settings, role: str = "all") -> int:
    """Serve every configured platform and the worker in one TaskGroup until SIGTERM/SIGINT;
    `role` intake leaves the worker out, `role` worker takes no commands."""
    if not settings.slack_enabled and settings.discord_token is None:
        print(cli.NO_PLATFORM, file=sys.stderr)
        return 2
    if role != "all" and settings.database_url is None:
        print(cli.ROLE_NEEDS_DATABASE.format(role=role), file=sys.stderr)
        return 2
    stop = asyncio.Event()
    supervisor.stop_on_signals(stop)
    async with open_engine(settings, platforms=serve_platforms(settings)) as engine:
        intake = MediaIntake(settings.media_dir, settings.profile())
        root = logging.getLogger()
        level = root.level
        root.setLevel(max(level, logging.ERROR))  # SDK chatter; a refusal is one plain line
        adapters: list[supervisor.ChatAdapter] = []
        senders: list[supervisor.Deliverer] = []
        try:
            if role == "worker":  # a worker binds no port and opens no gateway to check
                senders = chat_senders(settings, engine, intake)
            else:
                adapters = chat_adapters(settings, engine, intake)
                await supervisor.check_all(adapters, stop)
        finally:
            root.setLevel(level)
        chats: list[supervisor.ChatAdapter] | list[supervisor.Deliverer] = senders or adapters
        for adapter in chats:
            engine.chats[adapter.platform] = adapter.chat
        parts = engine.parts(stop, work=role != "intake")
        parts += [functools.partial(s.deliver_only, stop) for s in senders]
        parts += [functools.partial(supervisor.supervise, a, stop, engine.health) for a in adapters]
        names = ", ".join(a.platform for a in chats)
        log.info("videobot running (%s): %s", role, names)
        await supervisor.serve_until_stopped(parts, stop)
    if engine.health.fatal:
        raise supervisor.PlatformRefused(engine.health.fatal)
    return 0


TALKING = ("demo", "doctor", "tasks", "usage", "invite", "discord-sync", "migrate-ledger")


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as err:
        print(cli.invalid_settings(err), file=sys.stderr)
        return 2
    # Commands whose output is the answer (the demo's chat, doctor's table, tasks' rows) are not
    # interleaved with the INFO lines of libraries (httpx logs every request at INFO).
    talking = args.command in TALKING
    quiet = talking and settings.log_level.upper() == "INFO"
    level = "WARNING" if quiet else settings.log_level
    logs.setup(level, settings.secret_values(), settings.log_format)
    try:
        if args.command == "demo":
            return asyncio.run(demo(settings))
        if args.command == "simulate":
            return asyncio.run(simulate(args))
        if args.command == "tasks":
            return asyncio.run(run_tasks_command(settings, args))
        if args.command == "usage":
            return asyncio.run(run_usage_command(settings, args))
        if args.command in ("discord-sync", "invite"):
            from adapters.discord.setup import run_discord_setup  # noqa: PLC0415

            return asyncio.run(run_discord_setup(settings, args))
        if args.command == "migrate-ledger":
            return asyncio.run(run_migrate_ledger(settings, args.source, sys.stdout))
        if args.command == "doctor":
            sign_in = None if args.offline else vertex_sign_in(settings)
            return asyncio.run(
                run_doctor(settings, sys.stdout, offline=args.offline, sign_in=sign_in)
            )
        return asyncio.run(run(settings, args.role))
    except (LedgerBusy, supervisor.PlatformRefused) as err:
        print(err, file=sys.stderr)  # one plain line: what to fix, never a secret
        return 1
    except (LedgerError, PgLedgerError) as err:
        log.error("%s", err)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
