"""The ledger's schema as numbered migrations: step N takes a file from `PRAGMA user_version`
N to N+1. Append new steps; never edit one that has shipped."""

from __future__ import annotations

from storage import price_rules as prices
from storage.held import TABLE as HELD
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
    # 6: a person's key follows them (bot.domain.ReplyTarget.user_key): a Discord user is one
    # in every server and DM, a Slack Enterprise Grid user one across the org's workspaces.
    # Their tasks, spend, per-user totals and named budgets move to the new key, so an
    # upgrade neither forgets what they spent this month nor splits it.
    """
    UPDATE tasks SET user_key = 'discord:' || json_extract(body, '$.target.user_id')
    WHERE user_key LIKE 'discord:%';
    UPDATE tasks SET user_key = 'slack:' || json_extract(body, '$.target.enterprise_id') || ':'
        || json_extract(body, '$.target.user_id')
    WHERE user_key LIKE 'slack:%' AND json_extract(body, '$.target.enterprise_id') IS NOT NULL;
    UPDATE spend SET user_key = (SELECT t.user_key FROM tasks t WHERE t.task_id = spend.task_id);
    DELETE FROM spend_totals WHERE scope = 'user';
    INSERT INTO spend_totals (scope, subject, unit, period, starts, amount)
    SELECT 'user', user_key, unit, 'day', created_at - created_at % 86400000,
        SUM(coalesce(actual, reserved))
    FROM spend GROUP BY user_key, unit, created_at - created_at % 86400000;
    INSERT INTO spend_totals (scope, subject, unit, period, starts, amount)
    SELECT 'user', user_key, unit, 'month',
        strftime('%s', created_at / 1000, 'unixepoch', 'start of month') * 1000,
        SUM(coalesce(actual, reserved))
    FROM spend
    GROUP BY user_key, unit, strftime('%s', created_at / 1000, 'unixepoch', 'start of month');
    UPDATE OR REPLACE budgets
    SET subject = 'discord:' || substr(subject, 9 + instr(substr(subject, 9), ':'))
    WHERE scope = 'user' AND subject LIKE 'discord:%:%';
    -- The budgets the settings last seeded (Ledger.seed_budgets): the settings replace the
    -- stored budgets only when they changed since.
    CREATE TABLE budget_seed (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        seeded TEXT NOT NULL
    );
    """,
    # 7: requests waiting for their requester's Confirm (storage/held.py)
    HELD,
    # 8: the price table in force per provider profile, changeable without a restart
    prices.MIGRATION,
)
SCHEMA_VERSION = len(MIGRATIONS)
