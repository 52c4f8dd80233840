"""The composition root wires callbacks from settings alone: off unless VIDEOBOT_CALLBACK_URL
is set and the provider calls back; the submit carries `<url>/callbacks/<provider>`; the
endpoint is served on its own port or beside /metrics; a setup that cannot work stops the
start with the setting to fix."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.simulator import signing
from adapters.simulator.server import RunningSimulator
from bot.config import Settings
from bot.domain import TaskState
from bot.engine import Engine, open_engine
from tests.bot.test_hurry import RENDER_ENDS
from tests.conftest import SIM_KEY, t2v, target
from tests.fakes.chat import FakeChat
from tests.fakes.clock import FakeClock


def settings(tmp_path: Path, sim_url: str, **given: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        video_api_url=sim_url,
        video_api_key=SecretStr(SIM_KEY),
        data_dir=tmp_path,
        fetch_allow_loopback=True,
        **given,
    )


@asynccontextmanager
async def engine(config: Settings, clock: FakeClock) -> AsyncIterator[Engine]:
    async with open_engine(config, clock=clock.now) as opened:
        opened.chats["test"] = FakeChat()
        yield opened


def test_callbacks_are_off_unless_a_url_is_set_and_the_provider_calls_back() -> None:
    plain = Settings(_env_file=None)  # type: ignore[call-arg]
    assert plain.callback_kind is None and plain.worker_policy().callback_poll is None
    url = {"callback_url": "https://bot.example/", "callback_port": 8088}
    assert Settings(_env_file=None, **url).callback_kind is None  # type: ignore[call-arg]
    google = Settings(_env_file=None, provider="google", **url)  # type: ignore[call-arg]
    assert google.callback_kind == "google"
    assert google.callback_endpoint == "https://bot.example/callbacks/google"
    assert google.worker_policy().callback_poll is not None
    off = Settings(_env_file=None, provider="fal", callbacks="off", **url)  # type: ignore[call-arg]
    assert off.callback_kind is None and off.callback_endpoint is None
    chosen = Settings(_env_file=None, callbacks="standard", **url)  # type: ignore[call-arg]
    assert chosen.callback_endpoint == "https://bot.example/callbacks/guide"


async def test_the_submit_carries_the_endpoint_and_a_signed_callback_hurries_the_task(
    tmp_path: Path, sim: RunningSimulator, clock: FakeClock
) -> None:
    config = settings(
        tmp_path,
        sim.url,
        callback_url="http://127.0.0.1:1",  # what the provider is told; we serve on port 0
        callbacks="standard",
        callback_secret=SecretStr(signing.WEBHOOK_SECRET),
        callback_port=0,
        callback_host="127.0.0.1",
    )
    async with engine(config, clock) as running, httpx.AsyncClient(trust_env=False) as http:
        assert running.callbacks is not None and running.metrics is None
        task, _ = await running.service.accept(t2v(), target(), "evt-wired")
        await running.worker.step()
        stored = await running.ledger.get(task.task_id)
        assert stored is not None and stored.provider_task_id is not None
        at_provider = sim.simulator.tasks[stored.provider_task_id]
        assert at_provider.callback_url == "http://127.0.0.1:1/callbacks/guide"
        clock.advance(RENDER_ENDS + 1)
        assert await running.worker.step() == 0  # the safety-net poll is two minutes out

        body = json.dumps({"data": {"id": stored.provider_task_id}}).encode()
        headers = signing.standard_headers("msg_w", body)
        answer = await http.post(
            f"{running.callbacks.url}/callbacks/guide", content=body, headers=headers
        )
        assert answer.status_code == 200
        assert await running.worker.step() == 1
        await running.worker.step()
        done = await running.ledger.get(task.task_id)
        assert done is not None and done.state is TaskState.DELIVERED


async def test_without_a_port_of_its_own_the_endpoint_joins_the_metrics_server(
    tmp_path: Path, sim: RunningSimulator, clock: FakeClock
) -> None:
    config = settings(
        tmp_path,
        sim.url,
        callback_url="https://bot.example",
        callbacks="evolink",
        metrics_port=0,
    )
    async with engine(config, clock) as running, httpx.AsyncClient(trust_env=False) as http:
        assert running.callbacks is None and running.metrics is not None
        unknown = await http.post(f"{running.metrics.url}/callbacks/guide", content=b"{}")
        assert unknown.status_code == 200  # unsigned, names no task of ours: nothing happens
        other = await http.post(f"{running.metrics.url}/callbacks/evolink", content=b"{}")
        assert other.status_code == 404  # only the configured provider's path exists


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"callbacks": "standard", "callback_port": 0}, "VIDEOBOT_CALLBACK_SECRET"),
    ],
)
async def test_a_setup_that_cannot_work_stops_the_start_naming_the_setting(
    tmp_path: Path, sim: RunningSimulator, clock: FakeClock, given: dict[str, Any], names: str
) -> None:
    config = settings(tmp_path, sim.url, callback_url="https://bot.example", **given)
    with pytest.raises(SystemExit, match=names):
        async with engine(config, clock):
            pass


def test_the_callback_secret_is_redacted_from_logs_like_every_secret() -> None:
    secret = "whsec_Y2FuYXJ5LWNhbGxiYWNrLXNlY3JldA=="
    given = Settings(_env_file=None, callback_secret=SecretStr(secret))  # type: ignore[call-arg]
    assert secret in given.secret_values()
    assert secret not in repr(given)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"provider": "apimart", "callback_secret": "whsec_c2VjcmV0"}, "apimart takes no callback"),
        ({"provider": "evolink", "callback_url": "http://bot.example"}, "only https"),
        ({"callbacks": "standard", "callback_secret": "whsec_"}, "is empty after whsec_"),
        ({"callbacks": "standard", "callback_secret": "whsec_!!!"}, "not whsec_ followed by"),
        ({"provider": "google", "callback_url": "https://bot.example/?t=1"}, "without a query"),
        ({"provider": "google", "callback_port": None}, "nothing would serve them"),
    ],
)
def test_callbacks_that_could_never_arrive_are_refused_at_start(
    given: dict[str, str], said: str
) -> None:
    from pydantic import ValidationError

    from bot.cli import invalid_settings

    values = {
        "callback_url": "https://bot.example",
        "callback_port": "8088",
        "callbacks": "standard",
        **given,
    }
    if given.get("provider") in ("evolink", "google"):
        values.pop("callbacks")  # their own kind
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
    text = invalid_settings(refused.value)
    assert said in text and "Traceback" not in text
