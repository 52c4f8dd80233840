"""The simulator's memory across restarts (the demo's, when `SimConfig.state_file` is set): the
tasks and idempotency keys it has seen, so a bot restarted beside a restarted simulator finds
its tasks where it left them. Times are kept on the wall clock and rebased onto `clock`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.simulator.state import SimTask

_FIELDS = {f.name for f in fields(SimTask)}


def save(path: Path, tasks: dict[str, SimTask], by_key: dict[str, str], clock: float) -> None:
    """Write the whole memory atomically (a crash mid-write leaves the previous one)."""
    now_wall = time.time()
    records = []
    for task in tasks.values():
        record: dict[str, Any] = asdict(task)
        record.pop("image", None)  # the input image is not kept across restarts
        record["created_wall"] = task.created_wall.isoformat()
        record["created"] = now_wall - (clock - task.created)  # as wall-clock seconds
        if task.done_at is not None:
            record["done_at"] = now_wall - (clock - task.done_at)
        records.append(record)
    temp = path.with_name(f"{path.name}.{os.getpid()}.part")
    temp.write_text(json.dumps({"tasks": records, "by_key": by_key}), encoding="utf-8")
    temp.replace(path)


def load(path: Path, clock: Callable[[], float]) -> tuple[dict[str, SimTask], dict[str, str]]:
    """What `save` wrote, with times moved onto `clock`; nothing when there is no file or it
    cannot be read (a simulator that forgot is what a new one is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, {}
    offset = clock() - time.time()
    tasks = {}
    for record in data.get("tasks", []):
        known = {k: v for k, v in record.items() if k in _FIELDS}
        known["created_wall"] = datetime.fromisoformat(known["created_wall"])
        known["created"] = float(known["created"]) + offset
        if known.get("done_at") is not None:
            known["done_at"] = float(known["done_at"]) + offset
        task = SimTask(**known)
        tasks[task.task_id] = task
    by_key = {str(k): str(v) for k, v in data.get("by_key", {}).items() if v in tasks}
    return tasks, by_key
