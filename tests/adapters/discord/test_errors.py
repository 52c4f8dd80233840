"""What a failed call to Discord means to the worker: discord.py's and aiohttp's errors mapped onto
the Chat port's DeliveryError (give up) and DeliveryTransient (try again later)."""

from __future__ import annotations

import aiohttp
import pytest

from adapters.discord.errors import translated
from bot.errors import DeliveryTransient


async def test_a_call_while_the_adapter_reconnects_is_transient() -> None:
    # While a failed Discord adapter reconnects, its HTTP session is closed under the worker:
    # aiohttp says so with a bare RuntimeError, which must be retried, not logged as a crash.
    session = aiohttp.ClientSession()
    await session.close()
    with pytest.raises(DeliveryTransient, match="reconnecting"), translated("the status edit"):
        await session.get("http://127.0.0.1:9/")


async def test_other_runtime_errors_are_not_hidden() -> None:
    with pytest.raises(RuntimeError, match="a bug"), translated("the status edit"):
        raise RuntimeError("a bug")
