"""`/video usage`: a user's spend today and this month with what their budgets leave, and for
admins (`/video usage all`) everyone's this month. Read from the ledger, through its port."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.errors import ActionRefused
from bot.ports import Ledger, SpendQuery
from bot.pricing import money, period_starts
from bot.spending import reset_words, usage_text

if TYPE_CHECKING:
    from bot.access import AccessPolicy
    from bot.domain import ReplyTarget

ADMINS_ONLY = "Only admins can see everyone's spending; `usage` shows yours."
NOBODY = "Nobody has spent anything this month."
MOST_LINES = 30  # a chat message stays readable; the operator's `videobot usage` has them all


class SpendReports:
    def __init__(self, ledger: Ledger, clock: Callable[[], datetime], access: AccessPolicy):
        self._ledger = ledger
        self._clock = clock
        self._access = access

    async def usage(self, who: ReplyTarget, everyone: bool = False) -> str:
        """The text of `/video usage` (`everyone`: `/video usage all`, admins only). Raises
        ActionRefused when someone else asks for everyone's."""
        if everyone:
            if not self._access.is_admin(who):
                raise ActionRefused(ADMINS_ONLY)
            return await self._everyone()
        now = self._clock()
        day, month = period_starts(now)
        mine = await self._ledger.spend(SpendQuery(month, "user", who.user_key))
        today = await self._ledger.spend(SpendQuery(day, "user", who.user_key))
        budgets = [
            b
            for b in await self._ledger.budgets()
            if b.scope == "user" and b.subject in ("*", who.user_key)
        ]
        # A budget named for this user replaces the default of the same period.
        named = {(b.period, b.unit) for b in budgets if b.subject != "*"}
        budgets = [b for b in budgets if b.subject != "*" or (b.period, b.unit) not in named]
        if self._access.is_admin(who):
            budgets = []  # admins are not held to per-user budgets
        return usage_text(mine, today, budgets, now)

    async def _everyone(self) -> str:
        now = self._clock()
        _, month = period_starts(now)
        lines = await self._ledger.spend(SpendQuery(month, "user"))
        if not lines:
            return NOBODY
        when, wait = reset_words("month", now)
        rows = [
            f"{line.key.rsplit(':', 1)[-1]}  {money(line.spent, line.unit)}  ({line.tasks} "
            f"{'video' if line.tasks == 1 else 'videos'})"
            for line in lines[:MOST_LINES]
        ]
        more = len(lines) - MOST_LINES
        if more > 0:
            rows.append(f"…and {more} more (`videobot usage` lists everyone).")
        total: dict[str, int] = {}
        for line in lines:
            total[line.unit] = total.get(line.unit, 0) + line.spent
        spent = ", ".join(money(amount, unit) for unit, amount in sorted(total.items()))
        head = f"Spent this month by everyone: {spent} (the month resets {when}, in {wait})."
        return "\n".join([head, *rows])
