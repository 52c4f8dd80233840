"""Operator views of the ledger for the CLI: `videobot tasks` as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from bot.domain import Task, TaskState
from bot.messages import clip
from bot.ports import TaskQuery
from storage.ledger import SqliteLedger

_HEADER = (
    "REF",
    "MODE",
    "STATE",
    "REQUESTER",
    "CREATED (UTC)",
    "UPDATED",
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
    }


async def print_tasks(ledger: SqliteLedger, args: argparse.Namespace, out: TextIO) -> int:
    try:
        states = frozenset(TaskState(s) for s in args.state) if args.state else None
    except ValueError:
        allowed = ", ".join(s.value for s in TaskState)
        out.write(f"unknown state; use one of: {allowed}\n")
        return 2
    found = await ledger.find(TaskQuery(states=states, limit=args.limit))
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
