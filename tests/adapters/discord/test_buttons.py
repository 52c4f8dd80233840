"""Buttons that start paid work (Retry, Make it 9:16/16:9, Edit) start it once per status
message, however often they are pressed: a double click, a second user, a replayed event."""

from __future__ import annotations

from tests.fakes import quiet_audioop  # noqa: F401  (before discord.py; see the module)

# isort: split
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.simulator.server import RunningSimulator
from bot import messages
from bot.access import AccessPolicy
from bot.domain import Mode, TaskState
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import TEST_POLICY
from tests.fakes import discord_payloads as p
from tests.fakes.clock import FakeClock
from tests.fakes.discord_harness import DiscordBot, answered, discord_bot, modal_for

ADMIN_ID = p.USER_ID + 1
STRANGER_ID = p.USER_ID + 2


@pytest.fixture
async def shared_bot(
    tmp_path: Path,
    clock: FakeClock,
    sim: RunningSimulator,
    ledger: SqliteLedger,
    http: httpx.AsyncClient,
) -> AsyncIterator[DiscordBot]:
    """A bot where a second user (an admin) may press the requester's buttons too."""
    access = AccessPolicy(admins=frozenset({f"discord:{ADMIN_ID}"}))
    async with discord_bot(
        tmp_path, clock, sim, ledger=ledger, http=http, policy=TEST_POLICY, access=access
    ) as running:
        yield running


async def delivered(bot: DiscordBot) -> tuple[str, p.Json]:
    """A finished task: its reference and its status message as users see it."""
    await answered(bot, p.slash("video", [p.option("prompt", "a paper boat")]))
    await bot.run_until_idle()
    task = await bot.only_task()
    assert task.state is TaskState.DELIVERED
    return task.ref, bot.fake.messages[task.status_message_id or ""]


async def press_together(bot: DiscordBot, *presses: p.Json) -> list[str]:
    """Deliver every press before any is handled (a double click); return the answers."""
    before = len(bot.fake.followups)
    for press in presses:
        await bot.fake.interact(press)
    await bot.fake.wait_for(lambda: len(bot.fake.followups) >= before + len(presses))
    return [str(f["content"]) for f in bot.fake.followups[before:]]


async def follow_ups(bot: DiscordBot, ref: str) -> list[str]:
    return [t.ref for t in await bot.tasks() if t.retry_of == ref]


@pytest.mark.parametrize("action", ["retry", "flip"])
async def test_a_double_click_starts_one_task(bot: DiscordBot, action: str) -> None:
    ref, status = await delivered(bot)
    answers = await press_together(
        bot,
        p.button_press(f"vb:{action}:{ref}", status),
        p.button_press(f"vb:{action}:{ref}", status),
    )
    (new,) = await follow_ups(bot, ref)
    assert sum(a.startswith(f"Got it: task {new}") for a in answers) == 1, answers
    assert sum(f"Task {new} already exists" in a for a in answers) == 1, answers

    await bot.run_until_idle()
    assert bot.sim.simulator.stats.tasks_created == 2  # the original and one retry
    assert len(await bot.tasks()) == 2


async def test_two_users_pressing_one_button_start_one_task(shared_bot: DiscordBot) -> None:
    bot = shared_bot
    ref, status = await delivered(bot)
    first = await answered(bot, p.button_press(f"vb:retry:{ref}", status))
    (new,) = await follow_ups(bot, ref)
    assert first.startswith(f"Got it: task {new}")

    admin = p.member(ADMIN_ID, "grace")
    second = await answered(bot, p.button_press(f"vb:retry:{ref}", status, by=admin))
    assert second.startswith(f"Task {new} already exists")
    # Someone who may not retry the task at all is told so, and starts nothing either.
    stranger = p.member(STRANGER_ID, "eve")
    third = await answered(bot, p.button_press(f"vb:retry:{ref}", status, by=stranger))
    assert third == messages.NOT_YOURS.format(ref=ref)

    await bot.run_until_idle()
    assert await follow_ups(bot, ref) == [new]
    assert bot.sim.simulator.stats.tasks_created == 2


async def test_a_replayed_press_starts_one_task(bot: DiscordBot) -> None:
    ref, status = await delivered(bot)
    press = p.button_press(f"vb:flip:{ref}", status)
    assert (await answered(bot, press)).startswith("Got it: task")
    # The gateway delivers the same event again and, this time, the defer goes through.
    bot.fake.callbacks.clear()
    again = await answered(bot, press)
    (new,) = await follow_ups(bot, ref)
    assert again.startswith(f"Task {new} already exists")

    await bot.run_until_idle()
    assert bot.sim.simulator.stats.tasks_created == 2


async def test_the_same_edit_twice_starts_one_task_another_edit_starts_another(
    shared_bot: DiscordBot,
) -> None:
    """Edit opens a form; two forms sent with the same instruction from one status message (a
    second press of Edit, or a second user) are one request; a new instruction is a new one."""
    bot = shared_bot
    ref, status = await delivered(bot)
    admin = p.member(ADMIN_ID, "grace")
    first_form = await modal_for(bot, p.button_press(f"vb:edit:{ref}", status))
    second_form = await modal_for(bot, p.button_press(f"vb:edit:{ref}", status, by=admin))
    third_form = await modal_for(bot, p.button_press(f"vb:edit:{ref}", status))

    def sent(form: tuple[str, str], text: str, by: p.Json | None = None) -> p.Json:
        modal_id, input_id = form
        return p.modal_submit(modal_id, {input_id: text}, by=by)

    first = await answered(bot, sent(first_form, "make it black and white"))
    (new,) = await follow_ups(bot, ref)
    assert first.startswith(f"Got it: task {new}")
    second = await answered(bot, sent(second_form, "  make it black  and white ", admin))
    assert second.startswith(f"Task {new} already exists")
    third = await answered(bot, sent(third_form, "make it snow"))
    assert third.startswith("Got it: task")

    edits = [t for t in await bot.tasks() if t.request.mode is Mode.EDIT]
    assert sorted(t.request.prompt for t in edits) == ["make it black and white", "make it snow"]
    await bot.run_until_idle()
    assert bot.sim.simulator.stats.tasks_created == 3
