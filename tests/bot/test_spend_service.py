"""Money at intake: the estimate in the acknowledgement and the status message, refusals that
say the budget, what was spent and when it resets, admins, and the reservation race through
the service, on a real ledger file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot import messages
from bot.access import AccessPolicy
from bot.domain import ReplyTarget
from bot.errors import BudgetExceeded, QuotaExceeded
from bot.ledger import Budget, SpendQuery
from bot.policy import WorkerPolicy
from bot.pricing import micros, period_starts
from bot.providers import PROVIDERS
from bot.service import VideoService
from storage.sqlite.ledger import SqliteLedger
from tests.conftest import t2v, target
from tests.fakes.clock import FakeClock

GUIDE = PROVIDERS["guide"]  # $0.12 a second: 6 s is $0.72


def priced_service(
    ledger: SqliteLedger, clock: FakeClock, admins: frozenset[str] = frozenset()
) -> VideoService:
    return VideoService(
        ledger,
        WorkerPolicy(),
        clock.now,
        lambda: None,
        AccessPolicy(admins=admins),
        GUIDE.allows,
        provider="guide",
        prices=GUIDE.prices,
    )


async def test_the_acknowledgement_and_status_show_the_estimate(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    task, _ = await priced_service(ledger, clock).accept(t2v(), target(), "a")
    assert (task.estimate, task.unit, task.provider) == (micros("0.72"), "USD", "guide")
    assert "(text-to-video, 16:9, 6s, about $0.72)" in messages.accepted_reply(task)
    view = messages.status_view(task, clock.now())
    assert "about $0.72" in view.summary
    stored = await ledger.get(task.ref)
    assert stored is not None and stored.estimate == micros("0.72")


async def test_a_daily_budget_refusal_says_limit_spend_and_reset(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "day", micros(2), "USD")])
    svc = priced_service(ledger, clock)
    await svc.accept(t2v(), target(), "a")
    await svc.accept(t2v(), target(), "b")
    with pytest.raises(BudgetExceeded) as refused:
        await svc.accept(t2v(), target(), "c")
    assert str(refused.value) == (
        "This video (about $0.72) would go over your daily budget of $2.00: $1.44 is already "
        "spent or reserved today. It resets at 00:00 UTC (in 12h 00m). Nothing was charged "
        "for this request; ask whoever runs the bot to raise the budget, or wait until it "
        "resets."
    )  # no video the profile allows costs less than the $0.56 left: none is suggested


async def test_a_refusal_suggests_a_smaller_video_only_when_one_fits(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "day", micros("2.5"), "USD")])
    svc = priced_service(ledger, clock)
    await svc.accept(t2v(), target(), "a")
    await svc.accept(t2v(), target(), "b")
    with pytest.raises(BudgetExceeded) as refused:
        await svc.accept(t2v(duration=10), target(), "c")  # $1.20 of the $1.06 left
    assert str(refused.value).endswith(
        "a shorter or lower-resolution video may still fit, or ask whoever runs the bot to "
        "raise the budget."
    )
    await svc.accept(t2v(duration=6), target(), "d")  # and it does


async def test_a_monthly_workspace_refusal_names_the_day_it_resets(
    ledger: SqliteLedger,
) -> None:
    clock = FakeClock(datetime(2026, 12, 30, 18, 0, tzinfo=UTC))
    await ledger.set_budgets([Budget("workspace", "month", micros(1), "USD")])
    svc = priced_service(ledger, clock)
    await svc.accept(t2v(), target("U1"), "a")
    discord = ReplyTarget("discord", "T1", "C1", "U2")
    with pytest.raises(BudgetExceeded) as refused:
        await svc.accept(t2v(), target("U2"), "b")
    text = str(refused.value)
    assert "this workspace's monthly budget of $1.00: $0.72 is already spent or reserved this" in (
        text
    )
    assert "It resets on 1 January at 00:00 UTC (in 30h 00m)." in text
    await svc.accept(t2v(), discord, "c")  # another platform's server has its own budget


async def test_admins_skip_user_budgets_but_not_the_workspace(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets(
        [Budget("user", "day", micros("0.5"), "USD"), Budget("workspace", "month", 2, "USD")]
    )
    svc = priced_service(ledger, clock, admins=frozenset({"BOSS"}))
    with pytest.raises(BudgetExceeded) as refused:
        await svc.accept(t2v(), target("BOSS"), "a")
    assert refused.value.scope == "workspace"
    await ledger.set_budgets([Budget("user", "day", micros("0.5"), "USD")])
    await svc.accept(t2v(), target("BOSS"), "b")
    with pytest.raises(BudgetExceeded):
        await svc.accept(t2v(), target("U1"), "c")


async def test_cancelling_before_submit_gives_the_money_back(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "day", micros(1), "USD")])
    svc = priced_service(ledger, clock)
    task, _ = await svc.accept(t2v(), target(), "a")
    with pytest.raises(BudgetExceeded):
        await svc.accept(t2v(), target(), "b")
    cancelled = await svc.cancel(task.ref, target())
    assert "nothing was charged" in messages.status_view(cancelled, clock.now()).detail
    await svc.accept(t2v(), target(), "b")


async def test_ten_simultaneous_commands_against_a_budget_for_three_record_three(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "day", micros("2.16"), "USD")])  # 3 x $0.72
    svc = priced_service(ledger, clock)
    results = await asyncio.gather(
        *(svc.accept(t2v(), target(), f"k{i}") for i in range(10)), return_exceptions=True
    )
    recorded = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(recorded) == 3 and len(refused) == 7
    lines = await ledger.spend(SpendQuery(since=period_starts(clock.now())[1]))
    assert [(x.tasks, x.spent) for x in lines] == [(3, micros("2.16"))]
    assert "$2.16 is already spent or reserved today" in str(refused[0])


def on_discord(user: str, guild: str | None) -> ReplyTarget:
    """What the Discord adapter records: a server's id, or `@me` for a DM."""
    return ReplyTarget("discord", guild or "@me", f"C-{guild}", user)


async def test_a_discord_users_budget_and_daily_count_follow_them_everywhere(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "month", micros(1), "USD")])
    svc = priced_service(ledger, clock)
    await svc.accept(t2v(), on_discord("7", "111"), "a")
    for elsewhere, key in ((on_discord("7", "222"), "b"), (on_discord("7", None), "c")):
        with pytest.raises(BudgetExceeded) as refused:
            await svc.accept(t2v(), elsewhere, key)
        assert "over your monthly budget of $1.00: $0.72 is already spent" in str(refused.value)
    await svc.accept(t2v(), on_discord("8", "111"), "d")  # another person
    counted = VideoService(
        ledger, WorkerPolicy(), clock.now, lambda: None, AccessPolicy(daily_limit=1)
    )
    await counted.accept(t2v(), on_discord("9", "111"), "e")
    with pytest.raises(QuotaExceeded):
        await counted.accept(t2v(), on_discord("9", None), "f")


async def test_a_slack_users_budget_spans_an_enterprise_grid_org_but_not_workspaces(
    ledger: SqliteLedger, clock: FakeClock
) -> None:
    await ledger.set_budgets([Budget("user", "month", micros(1), "USD")])
    svc = priced_service(ledger, clock)
    await svc.accept(t2v(), ReplyTarget("slack", "T1", "C1", "U1", enterprise_id="E1"), "a")
    with pytest.raises(BudgetExceeded):
        grid = ReplyTarget("slack", "T2", "C2", "U1", enterprise_id="E1")
        await svc.accept(t2v(), grid, "b")
    # Outside a Grid org a user id means someone else in another workspace.
    await svc.accept(t2v(), ReplyTarget("slack", "T3", "C3", "U1"), "c")


async def test_discord_dms_share_no_server_budget(ledger: SqliteLedger, clock: FakeClock) -> None:
    await ledger.set_budgets([Budget("workspace", "month", micros(1), "USD")])
    svc = priced_service(ledger, clock)
    for user in ("1", "2", "3"):
        await svc.accept(t2v(), on_discord(user, None), f"dm-{user}")
    await svc.accept(t2v(), on_discord("1", "111"), "server")
    with pytest.raises(BudgetExceeded) as refused:
        await svc.accept(t2v(), on_discord("2", "111"), "server-2")
    assert "over this server's monthly budget" in str(refused.value)
    await ledger.set_budgets([Budget("channel", "month", micros(1), "USD", "discord:C-None")])
    with pytest.raises(BudgetExceeded) as refused:  # a DM's channel budget: no "server"
        await svc.accept(t2v(), on_discord("1", None), "dm-again")
    assert "over this conversation's monthly budget" in str(refused.value)
