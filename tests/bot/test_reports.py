"""`/video usage` against a ledger with known tasks: a user's spend today and this month and
what their budgets leave, everyone's for admins, a refusal for anyone else."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.access import AccessPolicy
from bot.domain import ReplyTarget, new_ref, new_task_id
from bot.errors import ActionRefused
from bot.ledger import Budget
from bot.policy import WorkerPolicy
from bot.pricing import micros
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.bot.test_domain import accepted
from tests.conftest import target
from tests.fakes.clock import FakeClock


async def spend(  # noqa: PLR0913 (each one a fact of the task)
    ledger: SqliteLedger,
    who: ReplyTarget,
    amount: str,
    clock: FakeClock,
    days_ago: int = 0,
    provider: str = "guide",
) -> None:
    """A delivered task of `who` that cost `amount` dollars, made `days_ago` days back."""
    at = clock.now().replace(day=clock.now().day - days_ago)
    task = replace(
        accepted(),
        task_id=new_task_id(),
        ref=new_ref(),
        idem_key=new_task_id(),
        target=who,
        created_at=at,
        updated_at=at,
        estimate=micros(amount),
        unit="USD",
        provider=provider,
    )
    stored, _ = await ledger.add(task)
    running = stored.submitting(at).submitted("p", at, at)
    saved = await ledger.save(stored, running)
    assert saved is not None
    done = saved.succeeded("https://x/v.mp4", None, at).delivering(at).delivered("m", at)
    assert await ledger.save(saved, done) is not None


def reports_of(ledger: SqliteLedger, clock: FakeClock) -> VideoService:
    access = AccessPolicy(admins=frozenset({"BOSS"}))
    return VideoService(ledger, WorkerPolicy(), clock.now, lambda: None, access)


async def test_a_user_sees_today_this_month_and_what_is_left(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets(
        [Budget("user", "day", micros(5), "USD"), Budget("user", "month", micros(20), "USD")]
    )
    await spend(ledger, target("U1"), "0.72", clock)
    await spend(ledger, target("U1"), "1.20", clock, days_ago=3)
    await spend(ledger, target("U2"), "9.00", clock)
    text = await reports_of(ledger, clock).reports.usage(target("U1"))
    assert text.splitlines() == [
        "You have spent $0.72 today and $1.92 this month (videos still rendering count at "
        "their estimate).",
        "Your daily budget is $5.00; $4.28 is left until it resets at 00:00 UTC (in 12h 00m).",
        "Your monthly budget is $20.00; $18.08 is left until it resets on 1 December at "
        "00:00 UTC (in 6 days).",
    ]
    fresh = await reports_of(ledger, clock).reports.usage(target("U3"))
    assert fresh.startswith("You have spent $0.00 today and $0.00 this month")


async def test_admins_see_everyone_and_nobody_else_does(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = reports_of(ledger, clock)
    assert await svc.reports.usage(target("BOSS"), everyone=True) == (
        "Nobody has spent anything this month."
    )
    await spend(ledger, target("U1"), "0.72", clock)
    await spend(ledger, target("U2"), "1.20", clock)
    await spend(ledger, target("U2"), "1.20", clock)
    text = await svc.reports.usage(target("BOSS"), everyone=True)
    assert text.splitlines() == [
        "Spent this month in this workspace: $3.12 (the month resets on 1 December at "
        "00:00 UTC, in 6 days).",
        "user-U2 (test:T1:U2)  $2.40  (2 videos)",
        "user-U1 (test:T1:U1)  $0.72  (1 video)",
    ]
    with pytest.raises(ActionRefused, match="Only admins can see everyone's spending"):
        await svc.reports.usage(target("U1"), everyone=True)


async def test_usage_all_shows_only_the_admins_workspace_with_names(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    svc = reports_of(ledger, clock)
    await spend(ledger, ReplyTarget("slack", "T1", "C1", "U1", user_name="ada"), "1.20", clock)
    await spend(ledger, ReplyTarget("slack", "T2", "C2", "U1", user_name="bob"), "0.72", clock)
    await spend(ledger, ReplyTarget("discord", "9", "C3", "U1", user_name="cy"), "0.40", clock)
    boss = ReplyTarget("slack", "T1", "C1", "BOSS")
    assert (await svc.reports.usage(boss, everyone=True)).splitlines()[1:] == [
        "ada (slack:T1:U1)  $1.20  (1 video)"
    ]


async def test_usage_shows_the_workspace_and_channel_budgets_to_everyone(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets(
        [
            Budget("user", "day", micros(5), "USD"),
            Budget("workspace", "month", micros(50), "USD"),
            Budget("channel", "month", micros(10), "USD", "discord:C1"),
        ]
    )
    here = ReplyTarget("discord", "9", "C1", "U1")
    await spend(ledger, here, "0.72", clock)
    await spend(ledger, replace(here, user_id="U2"), "2.00", clock)
    await spend(ledger, replace(here, channel_id="C2"), "1.00", clock)
    svc = reports_of(ledger, clock)
    shared = [
        "This server's monthly budget is $50.00; $46.28 is left until it resets on 1 December "
        "at 00:00 UTC (in 6 days).",
        "This channel's monthly budget is $10.00; $7.28 is left until it resets on 1 December "
        "at 00:00 UTC (in 6 days).",
    ]
    text = (await svc.reports.usage(here)).splitlines()
    assert text[1].startswith("Your daily budget is $5.00") and text[2:] == shared
    boss = (await svc.reports.usage(replace(here, user_id="BOSS"))).splitlines()
    assert boss == ["You have not spent anything this month.", *shared]
    dm = await svc.reports.usage(ReplyTarget("discord", "@me", "D1", "U1"))
    assert "server" not in dm and "channel" not in dm  # a DM is in no server
