"""The ledger's schema as numbered migrations: step N takes a file from `PRAGMA user_version`
N to N+1. Append new steps; never edit one that has shipped."""

from __future__ import annotations

from storage.sqlite import budgets

MIGRATIONS: tuple[str, ...] = (
    # 1: tasks and their history
    """
    CREATE TABLE tasks (
        task_id          TEXT PRIMARY KEY,
        ref              TEXT NOT NULL UNIQUE,
        idem_key         TEXT NOT NULL UNIQUE,
        state            TEXT NOT NULL,
        version          INTEGER NOT NULL,
        user_key         TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        next_check_at    INTEGER,
        provider_task_id TEXT,
        body             TEXT NOT NULL
    );
    CREATE INDEX tasks_due ON tasks(next_check_at) WHERE next_check_at IS NOT NULL;
    CREATE INDEX tasks_user_day ON tasks(user_key, created_at);
    CREATE INDEX tasks_state ON tasks(state);
    CREATE TABLE task_events (
        task_id  TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
        at       INTEGER NOT NULL,
        state    TEXT NOT NULL,
        detail   TEXT
    );
    CREATE INDEX task_events_task ON task_events(task_id, at);
    """,
    # 2: the history is written by the database itself, so a transition is one statement
    """
    CREATE TRIGGER task_accepted AFTER INSERT ON tasks BEGIN
        INSERT INTO task_events (task_id, at, state, detail)
        VALUES (NEW.task_id, NEW.updated_at, NEW.state, NULL);
    END;
    CREATE TRIGGER task_moved AFTER UPDATE OF state ON tasks WHEN NEW.state != OLD.state BEGIN
        INSERT INTO task_events (task_id, at, state, detail)
        VALUES (NEW.task_id, NEW.updated_at, NEW.state, coalesce(
            json_extract(NEW.body, '$.note'), json_extract(NEW.body, '$.error_message')));
    END;
    """,
    # 3: a provider's callback names its task by the provider's id: find it without a scan
    """
    CREATE INDEX tasks_provider ON tasks(provider_task_id) WHERE provider_task_id IS NOT NULL;
    """,
    # 4: spending: a spend row per priced task (reserved, then settled) and the budgets
    budgets.MIGRATION,
    # 5: claims are leases (storage/sqlite/leases.py): held rows are not due until it lapses
    """
    ALTER TABLE tasks ADD COLUMN lease_until INTEGER;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
