"""Wake-ups across processes: workers LISTEN on one channel that the ledger NOTIFYs on new work
and cancels only (never per row update). A lost connection is reopened with backoff; the
worker's timed claim covers whatever was sent meanwhile, so a wake-up is a hint, never a duty."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from storage.postgres.connect import PgLedgerError, connect
from storage.postgres.schema import CHANNEL

log = logging.getLogger("videobot.ledger")
POLL_S = 1.0  # how often the listener looks at `stop` between notifications
MAX_BACKOFF_S = 30.0


async def listen(url: str, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """Call `wake()` on every notification until `stop` is set."""
    failures = 0
    while not stop.is_set():
        try:
            conn = await connect(url)
        except PgLedgerError as err:
            failures += 1
            delay = min(MAX_BACKOFF_S, 0.5 * 2**failures)
            log.warning("cannot listen for new work (%s); trying again in %.0f s", err, delay)
            await _sleep(stop, delay)
            continue
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            wake()  # anything sent while we were not listening
            failures = 0
            while not stop.is_set():
                async for _ in conn.notifies(timeout=POLL_S):
                    wake()
        except psycopg.OperationalError as err:
            log.warning("the wake-up connection dropped (%s); reconnecting", err)
        finally:
            await conn.close()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
