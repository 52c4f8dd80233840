"""Secrets never reach a log line at any level, a user-visible message, or the ledger listing:
flows run at DEBUG with known canary secrets and every captured line is searched."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from aiohttp import web

from adapters.ops.tasks import print_tasks, show_task, task_record
from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import Simulator
from adapters.simulator.wire import error
from bot import logs
from bot.domain import TaskState
from bot.errors import DeliveryTransient
from bot.ledger import TaskQuery
from bot.service import VideoService
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY, Engine, EngineFactory, make_provider, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock

CANARIES = {
    "provider": "sk-canary-provider-8d1f0c2b7e",
    "provider_reserved": "sk-canary/provider+8d1f=0c2b&7e",  # changes when URL-encoded
    "slack_bot": "xoxb-1111111111-2222222222-CanarySlackBotToken",
    "slack_app": "xapp-1-A0123-4567-CanaryAppLevelToken",
    "signing": "canary-signing-secret-5a9e",
    "discord": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GcAnRy.CanaryDiscordTokenValue0123456789ab",
}


@pytest.fixture
def captured() -> Iterator[list[str]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    previous_factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    old_level, old_handlers = root.level, root.handlers[:]
    redactor = logs.setup("DEBUG", CANARIES.values())
    collector = Collect()
    collector.addFilter(redactor)
    root.addHandler(collector)
    yield lines
    root.handlers[:] = old_handlers
    root.setLevel(old_level)
    logging.setLogRecordFactory(previous_factory)


def leaked(text: str) -> list[str]:
    return [name for name, secret in CANARIES.items() if secret in text]


def test_the_filter_cleans_messages_args_and_shapes(captured: list[str]) -> None:
    log = logging.getLogger("slack_sdk.web.base_client")
    log.debug("Sending a request - headers: {'Authorization': 'Bearer %s'}", CANARIES["slack_bot"])
    log.debug("token=%s app=%s", CANARIES["slack_bot"], CANARIES["slack_app"])
    logging.getLogger("discord.http").debug(
        "POST https://discord.com/api/v10/interactions/123456789/aW50ZXJhY3Rpb246dG9rZW4/callback"
    )
    logging.getLogger("discord.http").debug("webhook /webhooks/42/secretWebhookToken-xyz")
    logging.getLogger("x").debug("shaped like a bot token: %s", "xoxb-9-9-unknownButShaped")
    rotated = "{'access_token': 'xoxe.xoxb-1-RotatedShape', 'refresh_token': 'xoxe-1-RefreshShape'}"
    logging.getLogger("slack_sdk.web.async_base_client").debug("Received: %s", rotated)
    try:
        raise RuntimeError(f"boom with {CANARIES['provider']}")
    except RuntimeError:
        logging.getLogger("videobot.worker").exception("failure")
    text = "\n".join(captured)
    assert leaked(text) == []
    assert "aW50ZXJhY3Rpb246dG9rZW4" not in text and "secretWebhookToken" not in text
    assert "unknownButShaped" not in text
    assert "RotatedShape" not in text and "RefreshShape" not in text
    assert "interactions/123456789/[redacted]" in text


async def test_provider_flows_at_debug_leak_nothing(
    make_engine: EngineFactory, captured: list[str]
) -> None:
    engine: Engine = make_engine(key=CANARIES["provider"])
    engine.sim.simulator.config = replace(engine.sim.simulator.config, api_key=CANARIES["provider"])
    good, _ = await engine.service.accept(t2v(), target(), "ok")
    await engine.run_until_idle()
    # Now the operator's key is refused: the 401 path logs loudly, but never the key.
    engine.sim.simulator.config = replace(engine.sim.simulator.config, api_key="another")
    held, _ = await engine.service.accept(t2v("second"), target(), "held")
    await engine.worker.step()
    done = await engine.ledger.get(good.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    text = "\n".join(captured)
    assert "OPERATOR" in text and "HTTP Request" in text  # httpx did log at DEBUG/INFO
    assert leaked(text) == []
    views = [v.text() for views in engine.chat.posts.values() for v in views]
    assert leaked("\n".join(views)) == []
    rows = [json.dumps(task_record(t)) for t in await engine.ledger.find(TaskQuery())]
    assert leaked("\n".join(rows)) == [] and len(rows) == 2


async def test_json_logs_carry_task_context(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    previous_factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    old_level, old_handlers = root.level, root.handlers[:]
    try:
        logs.setup("INFO", CANARIES.values(), "json")
        task, _ = await engine.service.accept(t2v(), target(), "json-evt")
        await engine.run_until_idle()
    finally:
        root.handlers[:] = old_handlers
        root.setLevel(old_level)
        logging.setLogRecordFactory(previous_factory)
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    moves = [e for e in entries if e.get("task") == task.ref and "to_state" in e]
    assert [m["to_state"] for m in moves][-1] == "delivered"
    assert {"ts", "level", "logger", "message", "platform", "elapsed_s"} <= set(moves[-1])
    assert moves[1]["provider_task"] is None or moves[1]["provider_task"].startswith("task_")


# -- a gateway that hands the key back: in error messages and in result links -----------------
KEY = CANARIES["provider_reserved"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def echoing(clock: FakeClock) -> AsyncIterator[Simulator]:
    """The simulator behind a gateway that echoes the key it was sent: in a refused submit's
    `error.message`, in a failed task's `error.message` (raw, URL-encoded and inside a link),
    and in every result URL's query, next to a signature."""
    simulator = Simulator(
        SimConfig(render_seconds=20, queue_seconds=2, api_key=KEY, seed=5), clock.monotonic
    )

    @web.middleware
    async def echo(request: web.Request, handler: Handler) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if request.method == "POST" and request.path.startswith("/v1/"):
            prompt = str(((await request.json()).get("input") or {}).get("prompt"))
            if "refuse" in prompt:
                return error(400, "invalid_request_error", f"key {sent} may not ask for this")
        response = await handler(request)
        if request.method != "GET" or not request.path.startswith("/v1/"):
            return response
        assert isinstance(response, web.Response) and response.body is not None
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        task = simulator.tasks[body["task_id"]]
        if "broken" in task.prompt:
            body.pop("video_url", None)
            body["status"] = "failed"
            body["error"] = {
                "code": f"bad_key_{sent}",
                "message": f"render refused for key {sent} ({quote(sent)}); details at "
                f"https://gw.example/why?token={quote(sent)}&task=1",
            }
        elif "video_url" in body:
            body["video_url"] += f"?api_key={quote(sent)}&X-Amz-Signature=0a1b2c3d"
        return web.json_response(body)

    app = simulator.app()
    app.middlewares.insert(0, echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    simulator.base_url = f"http://127.0.0.1:{port}"
    yield simulator
    await runner.cleanup()


async def _operator_views(ledger: SqliteLedger) -> str:
    """What `videobot tasks` prints: the table, the JSON lines, and each task's details."""
    out = io.StringIO()
    for as_json in (False, True):
        args = argparse.Namespace(state=None, since=None, user=None, limit=50, json=as_json)
        await print_tasks(ledger, args, out)
        for task in await ledger.find(TaskQuery()):
            await show_task(ledger, task.ref, out, as_json)
    return out.getvalue()


def _ledger_file(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return "\n".join(db.iterdump())


async def test_a_gateway_echoing_the_key_in_errors_and_links_leaks_it_nowhere(  # noqa: PLR0914
    echoing: Simulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
    clock: FakeClock,
    tmp_path: Path,
    captured: list[str],
) -> None:
    def worker(chat: FakeChat) -> Worker:  # a fresh process: a fresh provider client
        provider = make_provider(http, echoing.base_url, key=KEY)
        return Worker(
            ledger, provider, {"test": chat}, TEST_POLICY, clock.now, scratch_dir=tmp_path / "s"
        )

    chat = FakeChat(upload_failures=[DeliveryTransient("the upload timed out")])
    first = worker(chat)
    service = VideoService(ledger, TEST_POLICY, clock.now, first.wake)
    good, _ = await service.accept(t2v("a calm lake"), target(), "good")
    broken, _ = await service.accept(t2v("a broken lake"), target("U2"), "broken")
    refused, _ = await service.accept(t2v("refuse this lake"), target("U3"), "refused")
    await first.step()
    clock.advance(30)
    await first.step()  # polled: one done (its upload fails once), one failed

    pending = await ledger.get(good.ref)
    assert pending is not None and pending.state is TaskState.DELIVERING
    assert pending.result_url and quote(KEY) not in pending.result_url  # as the link had it
    # The process restarts: the credential-bearing link was never stored, so the new one
    # asks the provider for a fresh link, and downloads the real video with it.
    second = worker(chat)
    for _ in range(20):
        await second.step()
        if await ledger.next_due_at() is None:
            break
        clock.advance(5)
    ended = {t.ref: t for t in await ledger.find(TaskQuery())}
    assert ended[good.ref].state is TaskState.DELIVERED
    assert len(chat.uploads) == 1 and chat.uploads[0].data[4:8] == b"ftyp"
    assert ended[broken.ref].state is TaskState.FAILED
    assert "[redacted]" in (ended[broken.ref].error_message or "")
    assert ended[refused.ref].state is TaskState.REJECTED
    assert "[redacted]" in (ended[refused.ref].error_message or "")

    views = [v.text() for views in chat.posts.values() for v in views]
    captions = [u.caption for u in chat.uploads]
    operator = await _operator_views(ledger)
    stored = await asyncio.to_thread(_ledger_file, tmp_path / "ledger.db")
    assert "render refused" in operator and "render refused" in stored  # they were written
    places = {
        "log": "\n".join(captured),
        "chat": "\n".join(views + captions + chat.links),
        "ledger": stored,
        "videobot tasks": operator,
    }
    spellings = {KEY, quote(KEY), quote_plus(KEY)}
    leaks = {where: s for where, text in places.items() for s in spellings if s in text}
    assert leaks == {}
    assert "0a1b2c3d" not in places["ledger"] + places["chat"]  # the link's signature too
