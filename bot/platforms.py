"""Composition root, with bot/__main__.py and bot/engine.py: the chat platforms `videobot run`
serves, as adapters (intake and all roles) or as senders only (the worker role), each given
what it shares with other processes through the database when the ledger is PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.media.intake import MediaIntake
from bot import supervisor
from bot.config import Settings
from bot.engine import Engine
from storage.postgres.edits import PgEditBudget
from storage.postgres.identify import PgIdentifyGate
from storage.postgres.ledger import PgLedger
from storage.postgres.limits import PgUploadLimits
from storage.postgres.rest import PgRestBudget

if TYPE_CHECKING:
    from adapters.slack.app import SlackAdapter


def serve_platforms(settings: Settings) -> frozenset[str]:
    """The platforms `run` serves: its worker claims only their tasks (adapter PLATFORM names)."""
    configured = {"slack": settings.slack_enabled, "discord": settings.discord_token is not None}
    return frozenset(name for name, enabled in configured.items() if enabled)


def _slack(settings: Settings, engine: Engine, intake: MediaIntake) -> SlackAdapter:
    from adapters.slack.app import SlackAdapter  # noqa: PLC0415  (SDK imported only when used)

    # Beside other processes, Slack's per-workspace edit budget is counted in the database;
    # Slack installations (OAuth) live in the ledger's database too.
    shared = PgEditBudget(engine.ledger.pool) if isinstance(engine.ledger, PgLedger) else None
    url = settings.database_url
    database = url.get_secret_value() if url is not None else settings.ledger_path
    return SlackAdapter(settings, engine.service, intake, budget=shared, database=database)


@dataclass(frozen=True)
class _Shared:
    """What Discord's processes share through the database when the ledger is PostgreSQL:
    identify spacing, the global REST budget, upload limits. None each on SQLite (one machine:
    lock files in the data folder and each process's own token bucket)."""

    gate: PgIdentifyGate | None = None
    rest: PgRestBudget | None = None
    limits: PgUploadLimits | None = None


def _shared(settings: Settings, engine: Engine) -> _Shared:
    if not isinstance(engine.ledger, PgLedger):
        return _Shared()
    pool = engine.ledger.pool
    rest = PgRestBudget(pool, settings.discord_rest_rate)
    return _Shared(PgIdentifyGate(pool), rest, PgUploadLimits(pool))


def chat_adapters(
    settings: Settings, engine: Engine, intake: MediaIntake
) -> list[supervisor.ChatAdapter]:
    adapters: list[supervisor.ChatAdapter] = []
    if settings.slack_enabled:
        adapters.append(_slack(settings, engine, intake))
    if settings.discord_token is not None:
        from adapters.discord.client import DiscordAdapter  # noqa: PLC0415

        shared = _shared(settings, engine)
        adapters.append(
            DiscordAdapter(settings, engine.service, intake, identify_gate=shared.gate,
                           rest_budget=shared.rest, upload_limits=shared.limits)  # fmt: skip
        )
    return adapters


def chat_senders(
    settings: Settings, engine: Engine, intake: MediaIntake
) -> list[supervisor.Deliverer]:
    """The worker role's platforms: Slack's Web API client, and Discord's REST-only sender (no
    gateway: the intakes hold the shards)."""
    senders: list[supervisor.Deliverer] = []
    if settings.slack_enabled:
        senders.append(_slack(settings, engine, intake))
    if settings.discord_token is not None:
        from adapters.discord.sender import DiscordSender  # noqa: PLC0415

        shared = _shared(settings, engine)
        sender = DiscordSender(settings, rest_budget=shared.rest, upload_limits=shared.limits)
        senders.append(sender)
    return senders
