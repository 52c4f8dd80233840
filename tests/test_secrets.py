"""Secrets never reach a log line at any level, a user-visible message, or the ledger listing:
flows run at DEBUG with known canary secrets and every captured line is searched."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from adapters.ops.tasks import task_record
from bot import logs
from bot.domain import TaskState
from bot.ports import TaskQuery
from tests.conftest import Engine, EngineFactory, t2v, target

CANARIES = {
    "provider": "sk-canary-provider-8d1f0c2b7e",
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
    try:
        raise RuntimeError(f"boom with {CANARIES['provider']}")
    except RuntimeError:
        logging.getLogger("videobot.worker").exception("failure")
    text = "\n".join(captured)
    assert leaked(text) == []
    assert "aW50ZXJhY3Rpb246dG9rZW4" not in text and "secretWebhookToken" not in text
    assert "unknownButShaped" not in text
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
