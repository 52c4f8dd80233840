"""The supervisor on a scripted adapter: a failure is one log line and a reconnect while
`Health` names the part down; a refusal before the adapter ever served stops the process with
that line; a refusal after it served is retried like any failure; the overall stop deadline
cancels a part that ignores stop."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import pytest

from bot.ports import Chat
from bot.supervisor import Health, PlatformRefused, serve_until_stopped, supervise
from tests.fakes.chat import FakeChat


class ScriptedAdapter:
    """serve() runs the next step of the script: an exception to raise, or None to connect and
    serve until stop."""

    platform = "scripted"

    def __init__(self, script: list[BaseException | None]) -> None:
        self.script = script
        self.ready = asyncio.Event()
        self.serves = 0
        self.closed = 0
        self.chat: Chat = FakeChat()
        self.saw_down: list[dict[str, str]] = []
        self.health: Health | None = None

    async def check(self) -> None:
        return None

    async def serve(self, stop: asyncio.Event) -> None:
        self.serves += 1
        if self.health is not None:
            self.saw_down.append(dict(self.health.down))
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        self.ready.set()
        await stop.wait()

    async def aclose(self) -> None:
        self.closed += 1


def no_wait(failures: int, rng: random.Random) -> float:
    return 0.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110  (Health has no change event; yields, bounded)
            await asyncio.sleep(0)


async def test_a_failure_is_logged_once_and_the_adapter_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = ScriptedAdapter([KeyError("id"), None])
    health = Health()
    adapter.health = health
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, "videobot"):
        serving = asyncio.create_task(supervise(adapter, stop, health, delay_for=no_wait))
        await until(lambda: "scripted" in health.up)
        stop.set()
        await serving
    assert adapter.serves == 2
    assert adapter.saw_down == [{}, {"scripted": "KeyError: 'id'"}]  # down while it reconnected
    assert health.down == {} and health.fatal is None
    lines = [r.getMessage() for r in caplog.records if r.name == "videobot"]
    assert len(lines) == 1 and lines[0].startswith("scripted is down (KeyError: 'id')")
    assert adapter.closed == 1


async def test_a_refusal_before_serving_stops_the_process_with_its_line() -> None:
    adapter = ScriptedAdapter([PlatformRefused("set SCRIPTED_TOKEN")])
    health, stop = Health(), asyncio.Event()
    await asyncio.wait_for(supervise(adapter, stop, health), 5)
    assert health.fatal == "set SCRIPTED_TOKEN"
    assert stop.is_set() and adapter.serves == 1 and adapter.closed == 1


async def test_a_refusal_after_serving_is_retried_not_fatal() -> None:
    class Revoked(ScriptedAdapter):
        async def serve(self, stop: asyncio.Event) -> None:
            self.serves += 1
            if self.serves == 1:  # served, then lost the connection
                self.ready.set()
                raise ConnectionError("lost")
            if self.serves == 2:  # reconnecting: the token was revoked meanwhile
                raise PlatformRefused("token revoked")
            self.ready.set()
            await stop.wait()

    adapter = Revoked([])
    health, stop = Health(), asyncio.Event()
    serving = asyncio.create_task(supervise(adapter, stop, health, delay_for=no_wait))
    await until(lambda: adapter.serves == 3 and "scripted" in health.up)
    stop.set()
    await serving
    assert health.fatal is None and adapter.closed == 1


async def test_the_stop_deadline_cancels_a_part_that_ignores_stop() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def polite() -> None:
        await stop.wait()
        finished.append("polite")

    async def deaf() -> None:
        await asyncio.Event().wait()  # never looks at stop

    stop.set()
    await asyncio.wait_for(serve_until_stopped([polite, deaf], stop, grace=0.05), 5)
    assert finished == ["polite"]
