"""`/video usage`: a user's spend today and this month with what their budgets leave, and for
admins (`/video usage all`) everyone's this month. Read from the ledger, through its port."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.errors import ActionRefused
from bot.ledger import Ledger, SpendQuery, TaskQuery
from bot.messages import clip
from bot.pricing import money, period_starts
from bot.spending import reset_words, shared_budget_line, usage_text

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
            return await self._everyone(who)
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
        return usage_text(mine, today, budgets, now, await self._shared(who, day, month))

    async def _shared(self, who: ReplyTarget, day: datetime, month: datetime) -> tuple[str, ...]:
        """What the workspace's and the channel's budgets leave (a Discord DM is in no
        workspace); they bind admins too."""
        stored = await self._ledger.budgets()
        subjects = {"channel": who.channel_key}
        if who.in_workspace:
            subjects["workspace"] = who.workspace_key
        named = {(b.scope, b.subject, b.period, b.unit) for b in stored}
        lines = []
        for budget in sorted(stored, key=lambda b: b.scope != "workspace"):  # the wider first
            own = subjects.get(budget.scope)
            if own is None or budget.subject not in ("*", own):
                continue
            if budget.subject == "*" and (budget.scope, own, budget.period, budget.unit) in named:
                continue  # this workspace or channel has its own in place of the default
            keys = {f"{budget.scope}_key": own}
            since = day if budget.period == "day" else month
            spent = await self._ledger.spend(SpendQuery(since, budget.scope, **keys))
            total = sum(line.spent for line in spent if line.unit == budget.unit)
            lines.append(shared_budget_line(budget, total, who.platform, self._clock()))
        return tuple(lines)

    async def _everyone(self, who: ReplyTarget) -> str:
        """This month's spending of everyone in the admin's workspace (the operator's
        `videobot usage` sees every workspace), by name and qualified id."""
        now = self._clock()
        _, month = period_starts(now)
        lines = await self._ledger.spend(SpendQuery(month, "user", workspace_key=who.workspace_key))
        if not lines:
            return NOBODY
        when, wait = reset_words("month", now)
        rows = []
        for line in lines[:MOST_LINES]:
            videos = f"{line.tasks} {'video' if line.tasks == 1 else 'videos'}"
            rows.append(f"{await self._name(line.key)}  {money(line.spent, line.unit)}  ({videos})")
        more = len(lines) - MOST_LINES
        if more > 0:
            rows.append(f"…and {more} more (`videobot usage` lists everyone).")
        total: dict[str, int] = {}
        for line in lines:
            total[line.unit] = total.get(line.unit, 0) + line.spent
        spent = ", ".join(money(amount, unit) for unit, amount in sorted(total.items()))
        place = "this server" if who.platform == "discord" else "this workspace"
        if not who.in_workspace:
            place = "direct messages"
        head = f"Spent this month in {place}: {spent} (the month resets {when}, in {wait})."
        return "\n".join([head, *rows])

    async def _name(self, user_key: str) -> str:
        """`name (user key)`: the name the person last asked under, made inert by the chat
        adapter like any user text, and the id that tells two of a name apart."""
        recent = await self._ledger.find(TaskQuery(user_key=user_key, limit=1))
        name = recent[0].target.user_name if recent else ""
        return f"{clip(name, 40)} ({user_key})" if name else user_key
