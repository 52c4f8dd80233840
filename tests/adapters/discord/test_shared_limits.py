"""A server's upload limit reaches the interaction (the intake), but the upload is a worker's:
on PostgreSQL what one process learns, another uses, so a boosted server's 50 MB video is not
refused by a worker that never saw the server (its gateway is the intake's)."""

from __future__ import annotations

import discord

from adapters.discord.limits import DEFAULT_UPLOAD_LIMIT, UploadLimits
from bot.domain import ReplyTarget
from storage.postgres.limits import PgUploadLimits
from tests.pg import pg_databases, pg_ledger, pg_url

__all__ = ["pg_databases", "pg_url"]
BOOSTED = 50 * 1024 * 1024


async def test_a_limit_learned_by_the_intake_is_used_by_another_processes_worker(
    pg_url: str,
) -> None:
    target = ReplyTarget("discord", "4242", "C1", "U1", None, "ann")
    async with pg_ledger(pg_url) as intake_db, pg_ledger(pg_url) as worker_db:
        intake_client = discord.Client(intents=discord.Intents.none())
        worker_client = discord.Client(intents=discord.Intents.none())
        intake = UploadLimits(intake_client, shared=PgUploadLimits(intake_db.pool))
        worker = UploadLimits(worker_client, shared=PgUploadLimits(worker_db.pool))
        assert await worker.for_target(target) == DEFAULT_UPLOAD_LIMIT
        intake.learn("4242", BOOSTED)  # from an interaction, before its 3 s ack: no wait
        await intake.settled()
        assert await worker.for_target(target) == BOOSTED
        capped = UploadLimits(worker_client, 20 * 1024 * 1024, PgUploadLimits(worker_db.pool))
        assert await capped.for_target(target) == 20 * 1024 * 1024  # the operator's cap wins
        await intake_client.close()
        await worker_client.close()
