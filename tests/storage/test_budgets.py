"""Budgets and spend behind the Ledger port, on a real ledger file: a priced task reserves its
estimate in the statement that records it, that statement refuses a task that would pass a
budget, saves settle (or release) the reservation, and reports sum it all. Written against the
`ledger` fixture only, so every backend can run them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain import ReplyTarget, TaskState, new_ref, new_task_id
from bot.errors import BudgetExceeded, QuotaExceeded
from bot.ledger import Budget, Ledger, SpendQuery, TaskQuery, UserLimits
from bot.pricing import micros, period_starts
from bot.task import Task
from tests.bot.test_domain import T0, accepted
from tests.conftest import target

DAY, MONTH = period_starts(T0)
LIMITS = UserLimits(DAY, month_start=MONTH)
DOLLAR = micros(1)


def priced(
    key: str,
    who: ReplyTarget | None = None,
    cost: int = DOLLAR,
    at_s: float = 0,
    provider: str = "google",
) -> Task:
    at = T0 + timedelta(seconds=at_s)
    return replace(
        accepted(),
        task_id=new_task_id(),
        ref=new_ref(),
        idem_key=key,
        target=who or target(),
        created_at=at,
        updated_at=at,
        next_check_at=at,
        estimate=cost,
        unit="USD",
        provider=provider,
    )


async def spent(ledger: Ledger, by: str = "user", user: str | None = None) -> dict[str, int]:
    lines = await ledger.spend(SpendQuery(since=MONTH, by=by, user_key=user))
    return {line.key: line.spent for line in lines}


async def test_budgets_are_stored_and_replaced(ledger: Ledger) -> None:
    first = [Budget("user", "day", 3 * DOLLAR, "USD"), Budget("workspace", "month", DOLLAR, "USD")]
    await ledger.set_budgets(first)
    assert sorted(await ledger.budgets(), key=repr) == sorted(first, key=repr)
    await ledger.set_budgets([Budget("channel", "month", 5, "USD", "test:C9")])
    assert await ledger.budgets() == [Budget("channel", "month", 5, "USD", "test:C9")]


async def test_a_priced_task_reserves_its_estimate_and_a_save_settles_it(ledger: Ledger) -> None:
    task, created = await ledger.add(priced("a", cost=micros("0.8")))
    assert created
    lines = await ledger.spend(SpendQuery(since=MONTH))
    assert [(x.key, x.tasks, x.spent, x.held) for x in lines] == [
        ("test:T1:U1", 1, micros("0.8"), micros("0.8"))
    ]
    running = task.submitting(T0).submitted("p1", T0, T0)
    running = await ledger.save(task, running)
    assert running is not None
    done = replace(running.succeeded("https://x/v.mp4", None, T0), billed=micros("0.75"))
    saved = await ledger.save(running, done)
    assert saved is not None
    lines = await ledger.spend(SpendQuery(since=MONTH))
    assert [(x.spent, x.held) for x in lines] == [(micros("0.75"), 0)]


@pytest.mark.parametrize(
    ("end", "counted"),
    [
        ("rejected", 0),  # refused before it was billed: released
        ("cancelled", 0),  # cancelled before it was sent: released
        ("unknown", DOLLAR),  # may have been billed: counted
        ("failed", 0),  # the provider reported the render failed: not billed
        ("lost", DOLLAR),  # failed because the provider lost it: may have been billed
    ],
)
async def test_how_each_ending_settles(ledger: Ledger, end: str, counted: int) -> None:
    task, _ = await ledger.add(priced("a"))
    if end == "rejected":
        moved = task.rejected("bad", "refused", T0)
    elif end == "cancelled":
        moved = task.cancelled(T0)
    elif end == "unknown":
        moved = task.submitting(T0).unknown("lost", T0)
    else:
        sent = task.submitting(T0).submitted("p", T0, T0)
        moved = sent.failed("internal", "boom", T0, by_provider=end == "failed")
    assert await ledger.save(task, moved) is not None
    assert await spent(ledger) == {"test:T1:U1": counted}


async def test_a_budget_refuses_with_limit_and_spend_recording_nothing(ledger: Ledger) -> None:
    await ledger.set_budgets([Budget("user", "day", micros("2.5"), "USD")])
    await ledger.add(priced("a"), LIMITS)
    await ledger.add(priced("b"), LIMITS)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.add(priced("c"), LIMITS)
    err = refused.value
    assert (err.scope, err.period, err.limit, err.spent, err.unit) == (
        "user",
        "day",
        micros("2.5"),
        2 * DOLLAR,
        "USD",
    )
    assert isinstance(err, QuotaExceeded) and err.kind == "budget"
    assert len(await ledger.find(TaskQuery())) == 2  # the refused task was not recorded
    assert await spent(ledger) == {"test:T1:U1": 2 * DOLLAR}
    # A cheaper video still fits; someone else has a budget of their own.
    await ledger.add(priced("d", cost=micros("0.5")), LIMITS)
    await ledger.add(priced("e", target("U2")), LIMITS)
    # The next UTC day starts afresh.
    tomorrow = replace(LIMITS, day_start=DAY + timedelta(days=1))
    await ledger.add(priced("f", at_s=86400), tomorrow)


async def test_a_released_reservation_frees_the_budget(ledger: Ledger) -> None:
    await ledger.set_budgets([Budget("user", "month", DOLLAR, "USD")])
    task, _ = await ledger.add(priced("a"), LIMITS)
    with pytest.raises(BudgetExceeded):
        await ledger.add(priced("b"), LIMITS)
    await ledger.save(task, task.cancelled(T0))
    await ledger.add(priced("b"), LIMITS)


async def test_a_named_budget_replaces_the_default_and_admins_meet_only_shared_ones(
    ledger: Ledger,
) -> None:
    boss, crew = target("BOSS"), target("U1")
    await ledger.set_budgets(
        [
            Budget("user", "month", DOLLAR, "USD"),
            Budget("user", "month", 5 * DOLLAR, "USD", boss.user_key),
            Budget("workspace", "month", 7 * DOLLAR, "USD"),
            Budget("channel", "month", 2 * DOLLAR, "USD", "test:C2"),
        ]
    )
    for i in range(5):
        await ledger.add(priced(f"boss{i}", boss), LIMITS)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.add(priced("boss5", boss), LIMITS)
    assert (refused.value.scope, refused.value.limit) == ("user", 5 * DOLLAR)
    admin = replace(LIMITS, user_budgets=False)
    await ledger.add(priced("admin1", crew), admin)  # U1's own $1 does not bind an admin
    await ledger.add(priced("admin2", crew), admin)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.add(priced("admin3", crew), admin)
    assert (refused.value.scope, refused.value.spent) == ("workspace", 7 * DOLLAR)
    other = ReplyTarget("test", "T2", "C2", "U9")
    await ledger.add(priced("ok", other), admin)
    with pytest.raises(BudgetExceeded) as refused:
        await ledger.add(priced("c2", other, cost=micros("1.5")), admin)
    assert (refused.value.scope, refused.value.limit) == ("channel", 2 * DOLLAR)


async def test_ten_simultaneous_commands_against_a_budget_for_three_record_three(
    ledger: Ledger,
) -> None:
    await ledger.set_budgets([Budget("user", "day", 3 * DOLLAR, "USD")])
    results = await asyncio.gather(
        *(ledger.add(priced(f"k{i}"), LIMITS) for i in range(10)), return_exceptions=True
    )
    recorded = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(recorded) == 3 and len(refused) == 7
    assert await spent(ledger) == {"test:T1:U1": 3 * DOLLAR}


async def test_reports_group_by_user_workspace_channel_day_and_provider(
    ledger: Ledger,
) -> None:
    await ledger.add(priced("a", target("U1", "C1"), micros("0.5")))
    await ledger.add(priced("b", target("U2", "C2"), micros("1.5"), provider="fal"))
    await ledger.add(priced("c", target("U2", "C1"), micros("2"), at_s=86400))
    await ledger.add(replace(priced("free"), estimate=None))  # not priced: not in the reports
    assert await spent(ledger) == {"test:T1:U2": micros("3.5"), "test:T1:U1": micros("0.5")}
    assert await spent(ledger, "workspace") == {"test:T1": micros(4)}
    assert await spent(ledger, "channel") == {"test:C1": micros("2.5"), "test:C2": micros("1.5")}
    assert await spent(ledger, "day") == {"2026-11-24": 2 * DOLLAR, "2026-11-25": 2 * DOLLAR}
    assert await spent(ledger, "provider") == {"google": micros("2.5"), "fal": micros("1.5")}
    assert await spent(ledger, user="test:T1:U1") == {"test:T1:U1": micros("0.5")}
    later = await ledger.spend(SpendQuery(since=T0 + timedelta(hours=1)))
    assert [(x.key, x.spent) for x in later] == [("test:T1:U2", 2 * DOLLAR)]


async def test_a_repeated_command_reserves_once(ledger: Ledger) -> None:
    await ledger.set_budgets([Budget("user", "day", micros("1.5"), "USD")])
    first, _ = await ledger.add(priced("same"), LIMITS)
    again, created = await ledger.add(priced("same"), LIMITS)
    assert not created and again.task_id == first.task_id
    assert await spent(ledger) == {"test:T1:U1": DOLLAR}
    assert again.state is TaskState.ACCEPTED


async def test_settings_seed_budgets_only_when_they_changed(ledger: Ledger) -> None:
    settings = [Budget("user", "day", 3 * DOLLAR, "USD")]
    assert await ledger.seed_budgets(settings)  # the first start: the settings' budgets
    changed = [Budget("user", "day", 9 * DOLLAR, "USD")]
    await ledger.set_budgets(changed)  # as a later admin command would
    assert not await ledger.seed_budgets(settings)  # a restart with the same settings
    assert await ledger.budgets() == changed
    edited = [Budget("user", "day", 4 * DOLLAR, "USD"), Budget("workspace", "month", 1, "USD")]
    assert await ledger.seed_budgets(edited)  # the operator changed the settings: they win
    assert sorted(await ledger.budgets(), key=repr) == sorted(edited, key=repr)
    assert not await ledger.seed_budgets(list(reversed(edited)))  # order is no change
