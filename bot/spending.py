"""What users read about money: the estimate in the acknowledgement and the status message,
the cost (or "not billed") in the final status, a budget refusal with its limit, spend and
reset time, and `/video usage`."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.outcomes import human_duration
from bot.pricing import money, period_end, settlement

if TYPE_CHECKING:
    from bot.errors import BudgetExceeded
    from bot.ledger import Budget, SpendLine
    from bot.task import Task

_WHOSE = {"user": "your", "workspace": "this workspace's", "channel": "this channel's"}
_WHOSE_DISCORD = {**_WHOSE, "workspace": "this server's"}
_WHEN = {"day": "today", "month": "this month"}
_PERIOD = {"day": "daily", "month": "monthly"}


def about(task: Task) -> str:
    """`about $0.60` (or `under $0.01`), or "" for a task that is not priced."""
    return "" if task.estimate is None else approximately(task.estimate, task.unit)


def approximately(amount: int, unit: str) -> str:
    """`about $0.60`; an amount shown as `under $0.01` is approximate already."""
    shown = money(amount, unit)
    return shown if shown.startswith("under ") else f"about {shown}"


def cost_words(task: Task) -> str:
    """What an ended task cost, as a sentence for its final status ("" when not priced)."""
    settled = settlement(task)
    if settled is None:
        return ""
    amount, source = settled
    if source == "not_billed":
        return "It was not billed."
    if source == "released":
        return ""
    if source == "unknown":
        return f"It is counted as {money(amount, task.unit)} spent, in case it was billed."
    if source == "estimate":
        return f"Cost: {approximately(amount, task.unit)}."
    return f"Cost: {money(amount, task.unit)}."


def wait_words(until: datetime, now: datetime) -> str:
    left = until - now
    if left.days >= 2:
        return f"{left.days} days"
    # Rounded up: a reset a moment away is "1s" away, never "0s".
    return human_duration(timedelta(seconds=math.ceil(left.total_seconds())))


def reset_words(period: str, now: datetime) -> tuple[str, str]:
    """(`at 00:00 UTC` | `on 1 March at 00:00 UTC`, the wait until then)."""
    end = period_end(period, now)
    when = "at 00:00 UTC" if period == "day" else f"on {end.day} {end:%B} at 00:00 UTC"
    return when, wait_words(end, now)


def refusal(err: BudgetExceeded, task: Task, now: datetime, smaller_fits: bool = False) -> str:
    """A budget's refusal; `smaller_fits`: a shorter or lower-resolution video would fit."""
    whose = (_WHOSE_DISCORD if task.target.platform == "discord" else _WHOSE)[err.scope]
    if err.scope == "channel" and not task.target.in_workspace:
        whose = "this conversation's"
    when, wait = reset_words(err.period, now)
    cost = f" ({about(task)})" if task.estimate is not None else ""
    # No command changes a budget yet: whoever runs the bot sets them (VIDEOBOT_BUDGET_*).
    then = (
        "a shorter or lower-resolution video may still fit, or ask whoever runs the bot to "
        "raise the budget"
        if smaller_fits
        else "ask whoever runs the bot to raise the budget, or wait until it resets"
    )
    return (
        f"This video{cost} would go over {whose} {_PERIOD[err.period]} budget of "
        f"{money(err.limit, err.unit)}: {money(err.spent, err.unit)} is already spent or "
        f"reserved {_WHEN[err.period]}. It resets {when} (in {wait}). Nothing was charged for "
        f"this request; {then}."
    )


def shared_budget_line(budget: Budget, spent: int, platform: str, now: datetime) -> str:
    """What a workspace or channel budget leaves this period, for `/video usage`."""
    whose = (_WHOSE_DISCORD if platform == "discord" else _WHOSE)[budget.scope]
    left = max(0, budget.limit - spent)
    when, wait = reset_words(budget.period, now)
    return (
        f"{whose[0].upper()}{whose[1:]} {_PERIOD[budget.period]} budget is "
        f"{money(budget.limit, budget.unit)}; {money(left, budget.unit)} is left until it "
        f"resets {when} (in {wait})."
    )


def usage_text(
    mine: list[SpendLine],
    today: list[SpendLine],
    budgets: list[Budget],
    now: datetime,
    shared: tuple[str, ...] = (),
) -> str:
    """`/video usage` for one user: spent today and this month, what each of their budgets
    leaves, then the `shared` lines (their workspace's and channel's budgets)."""
    month = {line.unit: line.spent for line in mine}
    day = {line.unit: line.spent for line in today}
    units = sorted(set(month) | {b.unit for b in budgets if b.scope == "user"})
    if not units:
        return "\n".join(("You have not spent anything this month.", *shared))
    lines = []
    for unit in units:
        lines.append(
            f"You have spent {money(day.get(unit, 0), unit)} today and "
            f"{money(month.get(unit, 0), unit)} this month (videos still rendering count at "
            "their estimate)."
        )
        for budget in budgets:
            if budget.scope != "user" or budget.unit != unit:
                continue
            spent = (day if budget.period == "day" else month).get(unit, 0)
            left = max(0, budget.limit - spent)
            when, wait = reset_words(budget.period, now)
            lines.append(
                f"Your {_PERIOD[budget.period]} budget is {money(budget.limit, unit)}; "
                f"{money(left, unit)} is left until it resets {when} (in {wait})."
            )
    return "\n".join((*lines, *shared))


def report_lines(lines: list[SpendLine]) -> list[tuple[str, str, str, str]]:
    """(key, tasks, spent, held) per line, for a table."""
    return [
        (line.key, str(line.tasks), money(line.spent, line.unit), money(line.held, line.unit))
        for line in lines
    ]
