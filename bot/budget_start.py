"""What the money settings do to the ledger at start: they seed the budgets (only when they
changed since the last start, so a change made through the ledger survives a restart), and a
price unit other than the one this month was spent in is said out loud, since budgets count
one unit and would start again from zero."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ledger import Budget, Ledger, SpendQuery
from bot.pricing import money, period_starts

log = logging.getLogger("videobot.spend")


async def other_units(ledger: Ledger, unit: str, now: datetime) -> dict[str, int]:
    """What this month's spending in units other than `unit` adds up to, by unit."""
    _, month = period_starts(now)
    spent: dict[str, int] = {}
    for line in await ledger.spend(SpendQuery(month, "provider")):
        if line.unit != unit:
            spent[line.unit] = spent.get(line.unit, 0) + line.spent
    return spent


def unit_warning(unit: str, others: dict[str, int]) -> str:
    """The warning about a price unit changed this month ("" when it was not)."""
    if not others:
        return ""
    before = ", ".join(money(amount, other) for other, amount in sorted(others.items()))
    return (
        f"VIDEOBOT_PRICE_UNIT is {unit}, but {before} was spent this month in another unit: "
        f"budgets count {unit} only, so they start again from zero until the month ends"
    )


async def start_budgets(ledger: Ledger, budgets: list[Budget], unit: str, now: datetime) -> None:
    if await ledger.seed_budgets(budgets):
        log.debug("budgets: the settings changed since the last start, so theirs are in force")
    else:
        log.debug("budgets: the settings are as at the last start; the stored budgets stand")
    if warning := unit_warning(unit, await other_units(ledger, unit, now)):
        log.warning("%s", warning)
