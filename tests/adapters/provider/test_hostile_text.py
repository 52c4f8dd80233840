"""What a gateway says may be broken or hostile text: a lone UTF-16 surrogate (an emoji clipped
in half), terminal escape sequences, our own key in a status name or a task id, an id too long
for any URL. The client hands the core only text it can store, show and poll with."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from adapters.provider.client import HttpProvider
from adapters.provider.dialects import DIALECTS
from adapters.provider.redact import Redactor
from bot.errors import SubmitAmbiguous
from tests.conftest import loopback_fetcher, t2v

KEY = "sk-hostile-text-key-0042"
ANSWERS = {
    # Raw JSON text: json.loads turns "\ud83d" alone into a lone surrogate.
    "broken": '{"task_id": "broken", "status": "failed", "error": {"message": '
    '"bad \\ud83d end \\u001b[31mred\\u001b[0m\\rFORGED"}}',
    "keyed": '{"task_id": "keyed", "status": "weird_' + KEY + '"}',
}


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, list[str]]]:
    ids: list[str] = []

    async def submit(request: web.Request) -> web.Response:
        return web.json_response({"task_id": ids.pop(0)})

    async def poll(request: web.Request) -> web.Response:
        body = ANSWERS[request.match_info["task_id"]]
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.add_routes(
        [
            web.post("/v1/videos/generations", submit),
            web.get("/v1/videos/generations/{task_id}", poll),
        ]
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", ids
    await runner.cleanup()


def provider(http: httpx.AsyncClient, url: str) -> HttpProvider:
    return HttpProvider(
        http,
        DIALECTS["guide"],
        base_url=url,
        api_key=KEY,
        model="gemini_omni_flash",
        retry_base=0.01,
        rng=random.Random(1),
        fetcher=loopback_fetcher(),
    )


async def test_a_broken_failure_text_is_storable_and_inert(
    gateway: tuple[str, list[str]], http: httpx.AsyncClient
) -> None:
    url, _ = gateway
    status = await provider(http, url).fetch("broken")
    message = status.error_message or ""
    sqlite3.connect(":memory:").execute("SELECT ?", (message,))  # a ledger can store it
    assert "\x1b" not in message and "\r" not in message
    assert message.startswith("bad \ufffd end") and "FORGED" in message


async def test_our_key_in_an_unknown_status_name_is_cut(
    gateway: tuple[str, list[str]], http: httpx.AsyncClient
) -> None:
    url, _ = gateway
    status = await provider(http, url).fetch("keyed")
    assert status.raw_state is not None and KEY not in status.raw_state
    assert status.raw_state == "weird_[redacted]"


@pytest.mark.parametrize(
    "task_id", ["L" * 20_000, f"t1-{KEY}", "bad-\ud83d-id"], ids=["long", "keyed", "surrogate"]
)
async def test_a_task_id_we_cannot_keep_makes_the_submit_ambiguous(
    gateway: tuple[str, list[str]], http: httpx.AsyncClient, task_id: str
) -> None:
    url, ids = gateway
    ids.append(task_id)
    with pytest.raises(SubmitAmbiguous) as caught:
        await provider(http, url).submit(t2v(), "t-1")
    assert KEY not in str(caught.value)


def test_storable_text_keeps_newlines_tabs_and_emoji() -> None:
    assert Redactor(KEY).text("one\ttwo\nthree 🦊") == "one\ttwo\nthree 🦊"
