"""The core's storage port: the Ledger contract both backends (storage/sqlite, storage/postgres)
implement, and the queries and limits it takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from bot.domain import TaskState
from bot.pricing import PriceTable
from bot.task import Task


@dataclass(frozen=True, slots=True)
class UserLimits:
    """Per-user caps and spending budgets, checked in the same statement that records a task
    (so two concurrent commands cannot both slip under a cap). `month_start` set: the task's
    estimate is checked against the stored budgets (bot.ports.Budget) and reserved; admins
    pass `user_budgets=False` (only workspace and channel budgets bind them)."""

    day_start: datetime
    daily: int | None = None
    concurrent: int | None = None
    month_start: datetime | None = None
    user_budgets: bool = True


BudgetScope = Literal["user", "workspace", "channel"]
BudgetPeriod = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A cap on spending, in micro-units of `unit`, over a UTC day or calendar month. `subject`
    is the user key (platform:workspace:user), workspace key (platform:workspace) or channel
    key (platform:channel) it binds, or `*`: each user's (workspace's, channel's) own, unless
    a budget names that subject."""

    scope: BudgetScope
    period: BudgetPeriod
    limit: int
    unit: str
    subject: str = "*"


@dataclass(frozen=True, slots=True)
class SpendQuery:
    """A spending report: spend since `since`, grouped `by` user | workspace | channel | day |
    provider, optionally of one user, one workspace and/or one channel only."""

    since: datetime
    by: str = "user"
    user_key: str | None = None
    workspace_key: str | None = None
    channel_key: str | None = None


@dataclass(frozen=True, slots=True)
class SpendLine:
    """One group of a report: `spent` counts settled costs plus reservations still held
    (`held`, the estimates of tasks not yet ended), in micro-units of `unit`."""

    key: str
    unit: str
    tasks: int
    spent: int
    held: int


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """A filter over the ledger; every field narrows it."""

    states: frozenset[TaskState] | None = None
    user_key: str | None = None
    since: datetime | None = None
    limit: int = 50
    idem_key: str | None = None  # the task a command (its platform event) recorded, if any


class Ledger(Protocol):
    """Durable task storage. Every write is committed before the call returns."""

    async def add(self, task: Task, limits: UserLimits | None = None) -> tuple[Task, bool]:
        """Insert `task`; if its idem_key exists already, return the stored task and False.
        Idempotent on the key, so platform retries and double clicks are harmless. Raises
        QuotaExceeded, recording nothing, when the user is at one of `limits`, and
        LedgerUnavailable, recording nothing, when the storage cannot take the write (disk
        full) after a short retry.

        Spending: a task with an `estimate` reserves it in the same atomic step (its spend
        row: user, workspace, channel, provider, unit, created_at). With `limits.month_start`
        set, that step first checks every applicable Budget: for each, the spend of its scope
        (the user, workspace or channel of `task.target`) in `unit` since the period's start
        (`limits.day_start` or `limits.month_start`) plus the estimate must stay within the
        limit, else BudgetExceeded (scope, period, limit, spent), recording nothing. A row's
        spend is its settled amount once known, else its reservation. Settling is `save`'s
        job: whenever bot.pricing.settlement(new) changes, the row's spend becomes it (0 for a
        released reservation), in the same write as the transition."""
        ...

    async def save(self, old: Task, new: Task) -> Task | None:
        """Persist `new` only if the stored row is still `old` (same version). Returns the stored
        task (version bumped), or None if someone else moved it first. A write the storage
        cannot take (disk full) is retried with backoff until it lands: the caller waits."""
        ...

    async def get(self, ref_or_id: str) -> Task | None:
        """One task by its short reference or its full id."""
        ...

    async def due(self, now: datetime, limit: int, exclude: frozenset[str]) -> list[Task]:
        """Rows whose next_check_at <= now and that no live lease holds, oldest first, at most
        one user's share at a time. A look only: nothing is taken (the worker claims)."""
        ...

    # -- leases: claims that hold across processes (added with the PostgreSQL ledger) --------
    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Task]:
        """Take up to `limit` of the rows `due` would return and lease each until now + lease:
        its version is bumped, which fences out every later save of an earlier holder, and no
        other claim takes it before the lease lapses or is released (should its holder
        vanish, it is due again then). The lease is kept apart from next_check_at, so the
        holder's own saves never shorten it. Rows another claimer is taking are skipped,
        never waited for. Returns the claimed rows (new version), fairest first."""
        ...

    async def renew(self, task_id: str, held_until: datetime, until: datetime) -> bool:
        """Extend the lease ending at `held_until` to `until` (a long step); False when the
        lease is no longer ours (it lapsed and another claimer took the row)."""
        ...

    async def release(self, task_id: str, held_until: datetime) -> None:
        """End the lease ending at `held_until` (the step is done); a no-op if it is no longer
        ours. The row is then due at whatever next_check_at the step left it."""
        ...

    # -- end of the lease methods -------------------------------------------------------------

    async def find(self, query: TaskQuery) -> list[Task]:
        """Tasks matching `query`, newest first."""
        ...

    async def count(
        self, states: frozenset[TaskState], created_before: datetime | None = None
    ) -> int:
        """How many tasks are in `states` (created before a time, for queue positions)."""
        ...

    async def hold(self, ref: str, task: Task, expires_at: datetime, now: datetime) -> str:
        """Keep `task` (not recorded: nothing reserved or sent) waiting for its requester's
        Confirm as `ref` until `expires_at`. A request with the same idem_key still waiting
        keeps the ref it has, which is returned. Expired requests are forgotten."""
        ...

    async def held(self, ref: str, now: datetime) -> tuple[Task, datetime] | None:
        """The request waiting as `ref` and when it expires; None once it expired or went."""
        ...

    async def unhold(self, ref: str) -> None:
        """Forget the request waiting as `ref` (declined)."""
        ...

    async def take_slot(self, task_id: str, cap: int, now: datetime, until: datetime) -> bool:
        """Hold one of the provider's `cap` render slots for the task (about to be sent) until
        `until`: True if one was free. A slot counts tasks at the provider (submitting and
        rendering) and tasks holding a slot not yet sent; the check and the hold are one atomic
        step for every process sharing the ledger. Holding one already renews it."""
        ...

    async def release_slot(self, task_id: str) -> None:
        """Drop the task's slot hold (sent, or back in the queue: its state speaks now)."""
        ...

    async def media_in_use(self, ended_since: datetime) -> frozenset[str]:
        """The stored paths of every user medium a task may still need: tasks still live, or
        ended (last changed) at or after `ended_since` (Retry sends them again)."""
        ...

    async def next_due_at(self, after: datetime | None = None) -> datetime | None:
        """The earliest next_check_at of any row (later than `after`, when given), so the
        worker can sleep until then; with `after`, also the end of a lease on a due row
        (another worker's, which may have died), when that comes first."""
        ...

    async def set_budgets(self, budgets: list[Budget]) -> None:
        """Replace every stored budget with `budgets` (today the settings, at start; a later
        admin command writes the same table). Takes effect for the next `add`."""
        ...

    async def seed_budgets(self, budgets: list[Budget]) -> bool:
        """The settings' budgets at start: replace the stored ones with `budgets` only if they
        differ from what the last seeding stored (the settings changed since), so a change
        made meanwhile through the ledger (an admin command) survives a restart with the same
        settings. Returns True when it replaced them. Atomic."""
        ...

    async def budgets(self) -> list[Budget]:
        """The stored budgets."""
        ...

    async def set_prices(self, provider: str, table: PriceTable) -> None:
        """Put `table` in force for `provider`'s tasks (a provider profile name), replacing
        the stored one; processes see it within bot.price_book.REREAD. Atomic."""
        ...

    async def seed_prices(self, provider: str, table: PriceTable) -> bool:
        """The settings' prices at start, as `seed_budgets`: stored only if they differ from
        what the last seeding stored, so a change made through the ledger survives a restart
        with the same settings. Returns True when it replaced them. Atomic."""
        ...

    async def prices(self, provider: str) -> PriceTable | None:
        """The prices stored for `provider`, or None when none were ever stored."""
        ...

    async def spend(self, query: SpendQuery) -> list[SpendLine]:
        """Spending since `query.since` (by created_at), grouped by `query.by` (a day is its
        UTC date, `YYYY-MM-DD`), per unit, largest spend first. Unknown outcomes count as
        spent, released reservations as nothing."""
        ...

    async def make_due(self, provider_task_id: str, now: datetime) -> str | None:
        """Make the rendering task (submitted or running) that the provider knows as
        `provider_task_id` due for a poll at `now`, never later than it already was; returns
        its task_id, or None when no rendering task has that id. Only the schedule moves:
        state and version stay as they are, so a worker mid-step on the task is not fenced
        out and nothing but the poll can change what the task is. Idempotent. Raises
        LedgerUnavailable, changing nothing, when the storage cannot take the write."""
        ...
