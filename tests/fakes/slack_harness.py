"""The Slack adapter wired to a real engine (simulator on loopback, SQLite ledger file, worker on
a fake clock) and to the fake Slack, served in HTTP mode on a loopback port; plus builders for
signed Slack requests with the payload shapes Slack sends."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from PIL import Image
from pydantic import SecretStr
from slack_sdk.signature import SignatureVerifier

from adapters.media.intake import MediaIntake
from adapters.simulator.server import RunningSimulator
from adapters.slack.app import EVENTS_PATH, SlackAdapter
from adapters.slack.chat import EditBudget
from bot.access import AccessPolicy
from bot.config import Settings
from bot.policy import WorkerPolicy
from bot.ports import Chat
from bot.service import VideoService
from bot.task import Task
from bot.worker import Worker
from storage.sqlite.ledger import SqliteLedger
from tests.fakes.clock import FakeClock
from tests.fakes.slack_server import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, FakeSlack

SECRET = "fake-signing-secret-0123456789abcdef"
USER = "U0ALICE"
CHANNEL = "C0GENERAL"


def png_bytes(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


@dataclass
class SlackHarness:
    fake: FakeSlack
    adapter: SlackAdapter
    worker: Worker
    service: VideoService
    ledger: SqliteLedger
    clock: FakeClock
    sim: RunningSimulator
    client: httpx.AsyncClient
    url: str

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    async def post(
        self, body: str, form: bool, headers: dict[str, str] | None = None, **signing: Any
    ) -> httpx.Response:
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        all_headers = {"Content-Type": kind, **sign(body, **signing), **(headers or {})}
        return await self.client.post(self.url, content=body.encode(), headers=all_headers)

    async def command(
        self,
        text: str,
        trigger_id: str | None = None,
        user: str = USER,
        channel: str = CHANNEL,
        team: str = TEAM,
        enterprise: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        hook = self.next_id("hook")
        grid = {"enterprise_id": enterprise, "is_enterprise_install": "false"} if enterprise else {}
        form = {
            **grid,
            "token": "legacy",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/video",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": f"{self.fake.url}/response/{hook}",
            "trigger_id": trigger_id or self.next_id("trig."),
        }
        return await self.post(urlencode(form), form=True, **kw)

    async def interactive(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        base = {"team": {"id": TEAM, "domain": "test"}, "api_app_id": "A0APP", "token": "legacy"}
        return await self.post(urlencode({"payload": json.dumps({**base, **payload})}), True, **kw)

    async def button(
        self, action: str, ref: str, message_ts: str, user: str = USER
    ) -> httpx.Response:
        return await self.interactive(
            {
                "type": "block_actions",
                "user": {"id": user, "team_id": TEAM},
                "channel": {"id": CHANNEL},
                "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
                "trigger_id": self.next_id("trig."),
                "response_url": f"{self.fake.url}/response/{self.next_id('hook')}",
                "actions": [
                    {
                        "action_id": f"videobot_{action}",
                        "block_id": f"vb_{ref}",
                        "type": "button",
                        "value": ref,
                        "action_ts": "1700000000.1",
                    }
                ],
                "message": {"ts": message_ts, "type": "message"},
            }
        )

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, Any], user: str = USER
    ) -> httpx.Response:
        state = {"values": {block: {block: _state_value(value)} for block, value in values.items()}}
        return await self.interactive(
            {
                "type": "view_submission",
                "user": {"id": user, "team_id": TEAM},
                "view": {**view, "state": state},
            }
        )

    async def event(
        self,
        event: dict[str, Any],
        event_id: str,
        headers: dict[str, str] | None = None,
        team: str = TEAM,
    ) -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": team,
                "api_app_id": "A0APP",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": 1700000000,
                "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
            }
        )
        return await self.post(body, form=False, headers=headers)

    async def tasks(self) -> list[Task]:
        from bot.ledger import TaskQuery

        return await self.ledger.find(TaskQuery(limit=100))

    async def run_until_idle(self, step_seconds: float = 1.0, max_steps: int = 500) -> None:
        for _ in range(max_steps):
            await self.worker.step()
            if await self.ledger.next_due_at() is None:
                return
            self.clock.advance(step_seconds)
        raise AssertionError("the worker did not finish within the step budget")

    async def settle(self, within: float = 5.0) -> list[Task]:
        """Wait for every bolt listener still running after its ack; then the ledger's tasks."""
        running = [t for t in asyncio.all_tasks() if _is_listener(t)]
        if running:
            async with asyncio.timeout(within):
                await asyncio.gather(*running, return_exceptions=True)
        return await self.tasks()

    def responses(self) -> list[dict[str, Any]]:
        return [c.params for c in self.fake.named("response")]

    async def wait_responses(self, count: int) -> list[dict[str, Any]]:
        await self.fake.wait_for(lambda: len(self.fake.named("response")) >= count)
        return self.responses()


def _is_listener(task: asyncio.Task[Any]) -> bool:
    # bolt runs a listener's remainder (after ack) in this coroutine (listener/asyncio_runner.py)
    return getattr(task.get_coro(), "__name__", "") == "run_ack_function_asynchronously"


def _state_value(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"type": "file_input", "files": value}
    if isinstance(value, tuple):  # ("select", value)
        return {"type": "static_select", "selected_option": {"value": value[1]}}
    return {"type": "plain_text_input", "value": value}


def slack_settings(
    fake: FakeSlack, tmp_path: Path, socket_mode: bool = False, **overrides: Any
) -> Settings:
    """`overrides` are further settings by name, e.g. provider="google"."""
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_app_token": SecretStr(APP_TOKEN) if socket_mode else None,
        "slack_signing_secret": None if socket_mode else SecretStr(SECRET),
        "slack_api_url": fake.api_url,
        "slack_port": 0,
        "data_dir": tmp_path / "data",
    }
    return Settings(
        VIDEOBOT_FETCH_ALLOW_LOOPBACK=True,  # the fake's file host is on loopback
        _env_file=None,  # type: ignore[call-arg]
        **(values | overrides),
    )


@contextlib.asynccontextmanager
async def slack_harness(
    tmp_path: Path,
    *,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    provider: Any,
    policy: WorkerPolicy,
    socket_mode: bool = False,
    access: AccessPolicy | None = None,
    settings_overrides: dict[str, Any] | None = None,
    fake: FakeSlack | None = None,
    service_options: dict[str, Any] | None = None,
) -> AsyncIterator[SlackHarness]:
    """`fake`: a fake Slack already serving (shared by several harnesses, as replicas share
    Slack); otherwise one of its own, closed at the end."""
    own_fake = fake is None
    fake = fake or await FakeSlack(clock.monotonic).start()
    settings = slack_settings(fake, tmp_path, socket_mode, **(settings_overrides or {}))
    chats: dict[str, Chat] = {}
    worker = Worker(
        ledger,
        provider,
        chats,
        policy,
        clock.now,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(3),
    )
    service = VideoService(
        ledger,
        policy,
        clock.now,
        worker.wake,
        access,
        settings.profile(),
        **(service_options or {}),  # prices, a confirmation threshold
    )
    intake = MediaIntake(settings.media_dir, settings.profile())
    adapter = SlackAdapter(
        settings,
        service,
        intake,
        host="127.0.0.1",
        clock=clock.now,
        budget=EditBudget(clock=clock.monotonic),
    )
    chats["slack"] = adapter.chat
    stop = asyncio.Event()
    serving = asyncio.create_task(adapter.serve(stop))
    try:
        await asyncio.wait_for(adapter.ready.wait(), 5)
        url = f"http://127.0.0.1:{adapter.port}{EVENTS_PATH}"
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            yield SlackHarness(fake, adapter, worker, service, ledger, clock, sim, client, url)
    finally:
        stop.set()
        await serving
        if own_fake:
            await fake.close()
