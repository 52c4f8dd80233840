"""Operator views of the ledger for the CLI: `videobot tasks` as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TextIO

from adapters.ops.ledgers import AnyLedger, NoLedger, operator_ledger
from bot.config import Settings
from bot.domain import ReplyTarget, TaskState
from bot.errors import VideobotError
from bot.ledger import TaskQuery
from bot.messages import clip, state_words
from bot.pricing import MICRO, money, settlement
from bot.service import VideoService
from bot.task import Task

_HEADER = (
    "REF",
    "MODE",
    "STATE",
    "REQUESTER",
    "CREATED (UTC)",
    "UPDATED",
    "COST",
    "PROVIDER TASK",
    "ERROR",
)


def task_record(task: Task) -> dict[str, object]:
    """What an operator sees of a task: never a token, never a signed media URL."""
    return {
        "ref": task.ref,
        "task_id": task.task_id,
        "mode": task.request.mode.value,
        "state": task.state.value,
        "progress": task.progress,
        "requester": task.target.user_key,
        "channel": task.target.channel_id,
        "prompt": task.request.prompt,
        "aspect_ratio": task.request.aspect_ratio,
        "duration": task.request.duration,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "provider_task_id": task.provider_task_id,
        "error": task.error_message,
        "retry_of": task.retry_of,
        # Money as exact decimals of `unit`; `spent` once the task's cost is settled.
        "unit": task.unit or None,
        "estimate": amount_text(task.estimate),
        "spent": amount_text(settled[0]) if (settled := settlement(task)) else None,
    }


def cost_cell(task: Task) -> str:
    """`$0.80` once settled, `~$0.80` while the estimate is held, `-` when not priced."""
    if task.estimate is None:
        return "-"
    settled = settlement(task)
    return money(settled[0], task.unit) if settled else f"~{money(task.estimate, task.unit)}"


def amount_text(micros: int | None) -> str | None:
    """Micro-units as an exact decimal of the unit (`2.16`, `81.6`): what a spreadsheet sums."""
    return None if micros is None else f"{(Decimal(micros) / MICRO).normalize():f}"


def parse_since(text: str, now: datetime) -> datetime:
    """`2h`, `30m`, `7d`, `90s` ago, or an ISO date/time (UTC unless it says otherwise)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def state_named(text: str) -> TaskState:
    """A state by the words `list` and the status line show (`done`, `timed out`) or by the
    ledger's own name (`delivered`, `timed_out`)."""
    key = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
    for state in TaskState:
        if key in (state.value.replace("_", " "), state_words(state)):
            return state
    words = ", ".join(state_words(s) for s in TaskState)
    raise ValueError(f"Unknown state “{text}”. Use one of: {words}.")


async def print_tasks(ledger: AnyLedger, args: argparse.Namespace, out: TextIO) -> int:
    try:
        states = frozenset(state_named(s) for s in args.state) if args.state else None
    except ValueError as err:
        out.write(f"{err}\n")
        return 2
    try:
        since = parse_since(args.since, datetime.now(UTC)) if args.since else None
    except ValueError:
        out.write(f"cannot read --since {args.since!r}; use e.g. 2h, 30m, 7d or 2026-11-24\n")
        return 2
    users = await _user_keys(ledger, args.user) if args.user else [None]
    found: list[Task] = []
    for user in users:
        query = TaskQuery(states=states, user_key=user, since=since, limit=args.limit)
        found += await ledger.find(query)
    found.sort(key=lambda t: t.created_at, reverse=True)
    found = found[: args.limit]
    if args.json:
        for task in found:
            out.write(json.dumps(task_record(task)) + "\n")
        return 0
    rows = [_HEADER] + [
        (
            t.ref,
            t.request.mode.value,
            t.state.value
            + (f" {t.progress}%" if t.state is TaskState.RUNNING and t.progress else ""),
            clip(t.target.user_name or t.target.user_key, 24),
            t.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            t.updated_at.strftime("%H:%M:%S"),
            cost_cell(t),
            t.provider_task_id or "-",
            clip(t.error_message or "", 50),
        )
        for t in found
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(_HEADER))]
    for row in rows:
        out.write(
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    if not found:
        out.write("(no tasks)\n")
    return 0


async def _user_keys(ledger: AnyLedger, user: str) -> list[str | None]:
    """`--user U123` matches that id on any platform and workspace (or a full user key)."""
    if user.count(":") == 2:
        return [user]
    return list(await ledger.user_keys_for(user)) or ["-no-such-user-"]


async def show_task(ledger: AnyLedger, ref: str, out: TextIO, as_json: bool) -> int:
    task = await ledger.get(ref)
    if task is None:
        out.write(f"no task {ref.upper()}\n")
        return 1
    history = await ledger.history(task.task_id)
    if as_json:
        record = task_record(task)
        record["history"] = [
            {"at": at.isoformat(), "state": state, "detail": detail}
            for at, state, detail in history
        ]
        out.write(json.dumps(record) + "\n")
        return 0
    for key, value in task_record(task).items():
        if value not in (None, ""):
            out.write(f"{key:<18} {value}\n")
    out.write("history\n")
    start = history[0][0] if history else task.created_at
    for at, state, detail in history:
        offset = (at - start).total_seconds()
        line = f"  {at:%Y-%m-%d %H:%M:%S}  +{offset:7.1f}s  {state}"
        out.write(line + (f"  ({detail})" if detail else "") + "\n")
    return 0


async def run_tasks_command(settings: Settings, args: argparse.Namespace) -> int:
    """`videobot tasks [list] | show REF | cancel REF`."""
    if args.action in ("show", "cancel") and not args.ref:
        print(f"usage: videobot tasks {args.action} REF", file=sys.stderr)
        return 2
    try:
        async with operator_ledger(settings, "tasks") as (ledger, where):
            return await _act(ledger, settings, args, where)
    except NoLedger as err:
        print(err, file=sys.stderr)
        return 1


async def _act(ledger: AnyLedger, settings: Settings, args: argparse.Namespace, where: str) -> int:
    if args.action == "show":
        return await show_task(ledger, args.ref, sys.stdout, args.json)
    if args.action == "cancel":
        return await _cancel(ledger, settings, args.ref, where)
    if not args.json:
        print(f"ledger: {where}", file=sys.stderr)
    return await print_tasks(ledger, args, sys.stdout)


async def _cancel(ledger: AnyLedger, settings: Settings, ref: str, where: str) -> int:
    """An operator's cancel: allowed on anyone's task; a running bot shows it within seconds.
    Answers in operator words (state names, the ledger file), not the chat's."""
    found = await ledger.get(ref)
    if found is None:
        print(f"no task {ref.upper()} in {where}", file=sys.stderr)
        return 1
    if found.state.is_terminal:
        print(
            f"task {found.ref} already ended in state {found.state.value}; nothing to cancel",
            file=sys.stderr,
        )
        return 1
    operator = ReplyTarget("cli", "local", "cli", "operator", None, "operator")
    access = replace(settings.access_policy(), admins=frozenset({"cli:operator"}))
    service = VideoService(ledger, settings.worker_policy(), _utc_now, lambda: None, access)
    try:
        task = await service.cancel(ref, operator)
    except VideobotError as err:
        print(str(err), file=sys.stderr)
        return 1
    print(f"cancelled {task.ref} (it was {found.state.value}; a running bot shows it shortly)")
    return 0


def _utc_now() -> datetime:
    return datetime.now(UTC)
