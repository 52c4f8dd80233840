"""How a call to Discord fails: the JSON error codes videobot tells apart, what a call may
raise, and the map from discord.py's errors onto the port's DeliveryError / DeliveryTransient."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import discord

from bot.errors import DeliveryError, DeliveryTransient

UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
ARCHIVED_THREAD = 50083
THREAD_EXISTS = 160004

# What a call to Discord may raise: its refusals, a 429 too long to wait out inline (see
# DiscordChat), and the network.
DISCORD_TROUBLE = (
    discord.HTTPException,
    discord.RateLimited,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Map discord.py and network errors onto the port's DeliveryError / DeliveryTransient."""
    try:
        yield
    except discord.RateLimited as err:
        raise DeliveryTransient(
            f"Discord rate-limited {what}", timedelta(seconds=err.retry_after)
        ) from err
    except discord.HTTPException as err:
        if err.status == 429 or err.status >= 500:
            raise DeliveryTransient(f"Discord failed {what} ({err.status})") from err
        detail = f"{err.status}/{err.code}: {err.text}"
        raise DeliveryError(f"Discord refused {what} ({detail})") from err
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        raise DeliveryTransient(f"could not reach Discord for {what} ({err!r})") from err
    except RuntimeError as err:
        # aiohttp's only word for a closed session: the adapter is reconnecting after a failure
        # (its supervisor opens a fresh one), so the call is retried later.
        if str(err) != "Session is closed":
            raise
        raise DeliveryTransient(f"Discord is reconnecting; {what} will be retried") from err
