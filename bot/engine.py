"""The composition root's wiring (with bot/__main__.py, the only modules of bot/ that may import
adapters and storage): one Engine of ledger, provider, worker and service on one settings
object, plus the servers beside them (metrics, provider callbacks, media retention)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from adapters.callback.server import CallbackServer
from adapters.callback.setup import callback_serving, fetch_hosts
from adapters.fetch.fetcher import SafeFetcher
from adapters.fetch.hop import FetchPolicy
from adapters.media.retention import MediaJanitor
from adapters.ops.metrics import MetricsServer, PrometheusObserver
from adapters.provider.client import HttpProvider
from adapters.provider.wiring import provider_auth
from bot import supervisor
from bot.budget_start import start_budgets
from bot.config import Settings
from bot.domain import TaskState
from bot.ledger import TaskQuery
from bot.media import MAX_VIDEO_BYTES
from bot.policy import WorkerPolicy
from bot.ports import Chat, NullObserver, Observer
from bot.price_book import start_prices
from bot.service import VideoService
from bot.task import HELD_STATES, held_elsewhere
from bot.worker import Worker
from storage.postgres.ledger import PgLedger
from storage.sqlite.ledger import SqliteLedger
from storage.sqlite.lock import owning

log = logging.getLogger("videobot")


def utc_now() -> datetime:
    return datetime.now(UTC)


AnyLedger = SqliteLedger | PgLedger


@contextlib.asynccontextmanager
async def open_ledger(
    settings: Settings, platforms: frozenset[str] | None = None
) -> AsyncIterator[AnyLedger]:
    """VIDEOBOT_DATABASE_URL set: the PostgreSQL ledger, shared by any number of processes.
    Unset: the SQLite file, this process's alone while it is open (LedgerBusy otherwise).
    Either way the worker claims only tasks of this process's provider (VIDEOBOT_PROVIDER)."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        async with PgLedger.open(url, platforms, provider=settings.provider) as pg:
            yield pg
        return
    writable_dirs(("VIDEOBOT_DB", settings.ledger_path.parent))
    async with (
        owning(settings.ledger_path),  # before any recovery touches a row
        SqliteLedger.open(settings.ledger_path, platforms, settings.provider) as ledger,
    ):
        await ledger.drop_leases()  # the file is ours alone: any lease left is a dead process's
        yield ledger


@dataclass
class Engine:
    ledger: AnyLedger
    provider: HttpProvider
    worker: Worker
    service: VideoService
    chats: dict[str, Chat]
    observer: Observer
    janitor: MediaJanitor
    metrics: MetricsServer | None = None
    callbacks: CallbackServer | None = None

    health: supervisor.Health = field(default_factory=supervisor.Health)

    def parts(
        self, stop: asyncio.Event, work: bool = True
    ) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """What every serving command runs until `stop`: the worker (unless `work` is off:
        the intake role), and `/metrics` + `/healthz` when VIDEOBOT_METRICS_PORT is set."""
        parts: list[Callable[[], Coroutine[Any, Any, None]]] = []
        if work:
            parts += [
                functools.partial(self.worker.run, stop),
                functools.partial(self.janitor.run, stop),
            ]
            if isinstance(self.ledger, PgLedger):  # other processes' new work wakes us
                parts.append(functools.partial(self.ledger.listen, self.worker.nudge, stop))
        if self.metrics is not None:
            parts.append(functools.partial(self.metrics.serve, stop))
        if self.callbacks is not None:
            parts.append(functools.partial(self.callbacks.serve, stop))
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
    writable_dirs(("VIDEOBOT_DATA_DIR", settings.data_dir))
    policy = policy or settings.worker_policy()
    observer: Observer = NullObserver() if settings.metrics_port is None else PrometheusObserver()
    chats: dict[str, Chat] = {}
    timeout = httpx.Timeout(settings.http_timeout, connect=10.0)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    fetch_policy = FetchPolicy(
        allow_loopback=settings.fetch_allow_loopback,
        max_bytes=max(policy.max_video_bytes, MAX_VIDEO_BYTES),
        hosts=fetch_hosts(settings),  # only the provider's key documents are restricted
    )
    async with (
        open_ledger(settings, platforms) as ledger,
        httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as http,
        SafeFetcher(fetch_policy) as fetcher,
    ):
        # Prices live in the ledger like the budgets: seeded from the settings, read again
        # every bot.price_book.REREAD, so a change written there applies without a restart.
        prices = await start_prices(ledger, settings.provider, settings.prices_in_force, clock)
        policy = replace(policy, price_book=prices)
        provider = HttpProvider(
            http,
            dialect,
            base_url=settings.api_root or "",
            api_key=settings.video_api_key.get_secret_value() if settings.video_api_key else "",
            credentials=credentials,
            model=settings.model_id,
            resolution=settings.profile().default_resolution,
            auth=settings.auth_scheme,
            media=settings.media_passing,
            upload_path=settings.upload_path,
            idempotency_header=settings.idempotency_header,
            retry_base=settings.retry_base_seconds,
            total_timeout=settings.provider_timeout,
            observer=observer,
            fetcher=fetcher,
            callback_url=settings.callback_endpoint,
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
            sole_owner=settings.database_url is None,
        )
        if isinstance(ledger, SqliteLedger):
            # One process works every task of its file, so it refuses to strand another
            # provider's. Processes sharing PostgreSQL may serve different providers: each claims
            # only its own provider's tasks, and `videobot doctor` names any no process serves.
            await _same_provider(ledger, settings.provider)
        service = VideoService(
            ledger,
            policy,
            clock,
            worker.wake,
            settings.access_policy(),
            settings.profile(),
            provider=settings.provider,
            prices=prices,
            confirm_above=settings.confirm_threshold,
        )
        unit = settings.prices_in_force.unit
        await start_budgets(ledger, settings.budget_list(unit), unit, clock())
        metrics, health = None, supervisor.Health()
        # Provider callbacks: on their own port, or beside /metrics (`routes`).
        hooks, routes = callback_serving(settings, fetcher, worker.hurry)
        if isinstance(observer, PrometheusObserver) and settings.metrics_port is not None:
            # Bound before anything is served, so a taken port stops the start cleanly.
            where = (settings.metrics_host, settings.metrics_port)
            metrics = MetricsServer(observer, ledger, *where, health=health, routes=routes)
            await metrics.start()
        try:
            if hooks is not None:
                await hooks.start()
            janitor = MediaJanitor(ledger, settings.media_dir, settings.media_retention, clock)
            yield Engine(
                ledger,
                provider,
                worker,
                service,
                chats,
                observer,
                janitor,
                metrics,
                hooks,
                health,
            )
        finally:
            for server in (metrics, hooks):
                if server is not None:
                    await server.close()


async def _same_provider(ledger: AnyLedger, provider: str) -> None:
    """Refuse to start on another provider while tasks are still with the last one: polling
    them through the new provider's API would lose renders that were paid for."""
    live = await ledger.find(TaskQuery(states=HELD_STATES | {TaskState.ACCEPTED}, limit=10_000))
    queued = [t for t in live if t.state is TaskState.ACCEPTED and t.provider not in ("", provider)]
    if queued:  # never sent, so nothing is lost; but this worker works only its own provider's
        refs = ", ".join(t.ref for t in queued[:5]) + (", ..." if len(queued) > 5 else "")
        log.warning(
            "%d task(s) (%s) were made for another provider and wait until the bot runs with "
            "that VIDEOBOT_PROVIDER again; cancel them (videobot tasks cancel REF) if not",
            len(queued),
            refs,
        )
    if held := held_elsewhere(live, provider):
        names = sorted({t.provider for t in held})
        refs = ", ".join(t.ref for t in held[:5]) + (", ..." if len(held) > 5 else "")
        raise SystemExit(
            f"VIDEOBOT_PROVIDER: {len(held)} task(s) ({refs}) are still with "
            f"{' and '.join(names)}; start with VIDEOBOT_PROVIDER={names[0]} until they end, "
            "or cancel them (videobot tasks cancel REF), before switching to "
            f"{provider}. Switching now would lose renders already paid for."
        )


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
