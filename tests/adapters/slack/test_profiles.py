"""The Slack forms offer what the chosen provider allows: a resolution select only where there is
a choice, the modes it offers, the media its modes take; every such view passes Slack's
published contract, and a submitted resolution reaches the request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.simulator.server import RunningSimulator
from adapters.slack.blocks import ModalMeta, animate_modal, create_modal
from bot.domain import Mode
from bot.providers import PROVIDERS
from storage.sqlite.ledger import SqliteLedger
from tests.conformance.slack_contract import call_problems
from tests.conftest import TEST_POLICY, make_provider
from tests.fakes.clock import FakeClock
from tests.fakes.slack_harness import SlackHarness, slack_harness
from tests.fakes.slack_web_api import Call

META = ModalMeta(channel_id="C1")


def blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def option_values(block: dict[str, Any]) -> list[str]:
    return [o["value"] for o in block["element"]["options"]]


def conforms(view: dict[str, Any]) -> list[str]:
    return call_problems(Call("/api/views.open", "views.open", "slack", None, {"view": view}))


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_providers_forms_offer_what_it_allows_and_conform(name: str) -> None:
    allows = PROVIDERS[name].allows
    view = create_modal(allows, META)
    found = blocks_by_id(view)
    assert conforms(view) == [] and conforms(animate_modal(allows, META, "an image")) == []
    assert option_values(found["duration"]) == [str(d) for d in allows.durations]
    assert found["duration"]["element"]["initial_option"]["value"] == str(allows.default_duration)
    assert option_values(found["ar"]) == list(allows.aspect_ratios)
    if len(allows.resolutions) > 1:
        assert option_values(found["res"]) == list(allows.resolutions)
        assert found["res"]["element"]["initial_option"]["value"] == allows.default_resolution
        assert "res" in blocks_by_id(animate_modal(allows, META, "an image"))
    else:
        assert "res" not in found
    offered = [m.value for m in Mode if m in allows.modes]
    assert option_values(found["mode"]) == ["auto", *offered]


def test_modes_and_media_follow_the_profile() -> None:
    images_only = replace(PROVIDERS["google"].allows, modes=frozenset({Mode.T2V, Mode.I2V}))
    found = blocks_by_id(create_modal(images_only, META))
    assert option_values(found["mode"]) == ["auto", "t2v", "i2v"]
    element = found["files"]["element"]
    assert "mp4" not in element["filetypes"] and element["max_files"] == 1  # one image: i2v
    assert found["files"]["label"]["text"] == "Images (optional)"

    edit_only = replace(images_only, modes=frozenset({Mode.T2V, Mode.EDIT}))
    element = blocks_by_id(create_modal(edit_only, META))["files"]["element"]
    assert element["filetypes"] == ["mp4"] and element["max_files"] == 1

    text_only = replace(images_only, modes=frozenset({Mode.T2V}))
    view = create_modal(text_only, META)
    assert "mode" not in blocks_by_id(view) and "files" not in blocks_by_id(view)
    assert conforms(view) == []


@pytest.fixture
async def slack(
    tmp_path: Path,
    sim: RunningSimulator,
    clock: FakeClock,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[SlackHarness]:
    """Slack with the Google profile (the simulator behind it speaks the default dialect: the
    forms and the grammar are what is under test)."""
    async with slack_harness(
        tmp_path,
        sim=sim,
        clock=clock,
        ledger=ledger,
        provider=make_provider(http, sim.url),
        policy=TEST_POLICY,
        settings_overrides={"provider": "google"},
    ) as harness:
        yield harness


async def test_the_resolution_chosen_in_the_form_reaches_the_request(slack: SlackHarness) -> None:
    await slack.command("")
    await slack.fake.wait_for(lambda: bool(slack.fake.named("views.open")))
    raw = slack.fake.named("views.open")[-1].params["view"]
    view = {**(raw if isinstance(raw, dict) else json.loads(raw)), "id": "V0RES"}
    assert option_values(blocks_by_id(view)["res"]) == ["360p", "720p", "1080p", "4k"]
    values = {
        "prompt": "a lighthouse in a storm",
        "mode": ("s", "auto"),
        "ar": ("s", "16:9"),
        "duration": ("s", "8"),
        "res": ("s", "1080p"),
    }
    await slack.submit_view(view, values)
    (task,) = await slack.settle()
    assert (task.request.resolution, task.request.duration) == ("1080p", 8)


async def test_res_in_a_slash_command_and_its_refusal(slack: SlackHarness) -> None:
    await slack.command("a red kite --res 4K")
    (reply,) = await slack.wait_responses(1)
    assert "4k" in reply["text"]
    await slack.command("a red kite --res 8k")
    replies = await slack.wait_responses(2)
    assert "makes 360p, 720p, 1080p or 4k videos, not 8k" in replies[1]["text"]
    (task,) = await slack.tasks()
    assert task.request.resolution == "4k"
