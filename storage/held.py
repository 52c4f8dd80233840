"""Requests waiting for their requester's Confirm (bot/confirm.py), as both backends keep them:
the would-be task in the codec's row form, as JSON text, beside its ref, idem_key and expiry."""

from __future__ import annotations

import json

from bot.task import Task
from storage.codec import row_to_task, task_to_row


def held_body(task: Task) -> str:
    return json.dumps(list(task_to_row(task)))


def held_task(body: str) -> Task:
    return row_to_task(tuple(json.loads(body)))


# The table, the same on both backends (times in epoch milliseconds).
TABLE = """
CREATE TABLE held_requests (
    ref        TEXT PRIMARY KEY,
    idem_key   TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    body       TEXT NOT NULL
);
"""
