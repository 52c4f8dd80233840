"""`python -m tests.fakes.discord_intake`: a Discord intake process for the process-level
sharding test (what `videobot run` would be without its worker): the engine's ledger and
service, the sharded Discord client, settings from the environment. Prints `ready` once its
shards are connected; SIGTERM stops it."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
import asyncio

from adapters.discord.client import DiscordAdapter
from adapters.media.intake import MediaIntake
from bot import logs, supervisor
from bot.config import Settings
from bot.engine import open_engine


async def intake(settings: Settings) -> int:
    stop = asyncio.Event()
    supervisor.stop_on_signals(stop)
    async with open_engine(settings, platforms=frozenset({"discord"})) as engine:
        intake = MediaIntake(settings.media_dir, settings.profile())
        adapter = DiscordAdapter(settings, engine.service, intake, guild_ready_timeout=0.1)
        engine.chats[adapter.platform] = adapter.chat
        serving = asyncio.create_task(supervisor.supervise(adapter, stop, engine.health))
        ready = asyncio.create_task(adapter.ready.wait())
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            print("ready", flush=True)
        ready.cancel()
        await serving
    return 1 if engine.health.fatal else 0


def main() -> int:
    settings = Settings(_env_file=None)
    logs.setup(settings.log_level, settings.secret_values(), settings.log_format)
    return asyncio.run(intake(settings))


if __name__ == "__main__":
    raise SystemExit(main())
