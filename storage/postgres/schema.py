"""The PostgreSQL ledger's schema as numbered migrations, applied in one transaction under an
advisory lock, so however many processes start at once exactly one migrates and the others
find the work done. Append new steps; never edit one that has shipped."""

from __future__ import annotations

from storage.held import TABLE as HELD
from storage.postgres.prices import MIGRATION as PRICES
from storage.postgres.spend_schema import SPEND

# Times are integer milliseconds since the epoch (UTC), as in SQLite, so both backends share
# storage/codec.py; the body is JSONB so operator queries can reach inside it.
MIGRATIONS: tuple[str, ...] = (
    # 1: tasks, their history (written by a trigger, so a transition is one statement)
    """
    CREATE TABLE tasks (
        task_id          TEXT PRIMARY KEY,
        ref              TEXT NOT NULL UNIQUE,
        idem_key         TEXT NOT NULL UNIQUE,
        state            TEXT NOT NULL,
        version          BIGINT NOT NULL,
        user_key         TEXT NOT NULL,
        created_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL,
        next_check_at    BIGINT,
        provider_task_id TEXT,
        body             JSONB NOT NULL,
        lease_until      BIGINT
    );
    CREATE INDEX tasks_due ON tasks(next_check_at) WHERE next_check_at IS NOT NULL;
    CREATE INDEX tasks_user_day ON tasks(user_key, created_at);
    CREATE INDEX tasks_state ON tasks(state);
    CREATE INDEX tasks_provider ON tasks(provider_task_id) WHERE provider_task_id IS NOT NULL;
    CREATE INDEX tasks_leased ON tasks(lease_until) WHERE lease_until IS NOT NULL;
    CREATE TABLE task_events (
        id       BIGSERIAL PRIMARY KEY,
        task_id  TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
        at       BIGINT NOT NULL,
        state    TEXT NOT NULL,
        detail   TEXT
    );
    CREATE INDEX task_events_task ON task_events(task_id, id);
    CREATE FUNCTION task_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO task_events (task_id, at, state, detail)
            VALUES (NEW.task_id, NEW.updated_at, NEW.state, NULL);
        ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
            INSERT INTO task_events (task_id, at, state, detail)
            VALUES (NEW.task_id, NEW.updated_at, NEW.state,
                    coalesce(NEW.body->>'note', NEW.body->>'error_message'));
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER task_accepted AFTER INSERT ON tasks
        FOR EACH ROW EXECUTE FUNCTION task_event();
    CREATE TRIGGER task_moved AFTER UPDATE OF state ON tasks
        FOR EACH ROW EXECUTE FUNCTION task_event();
    """,
    # 2: Slack's chat.update budget is per workspace, so every worker process counts in one place
    """
    CREATE TABLE slack_edits (
        workspace_id TEXT NOT NULL,
        at           TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX slack_edits_workspace ON slack_edits(workspace_id, at);
    """,
    # 3: a Discord server's upload limit, learned by an intake, needed by the uploading worker
    """
    CREATE TABLE discord_upload_limits (
        guild_id TEXT PRIMARY KEY,
        bytes    BIGINT NOT NULL
    );
    """,
    # 4: spending: a spend row per priced task (reserved, then settled) and the budgets
    SPEND,
    # 5: Discord across machines: the last IDENTIFY per identify bucket, and the next free
    # slot of the bot's global REST budget (both in the database's clock, one for all)
    """
    CREATE TABLE discord_identifies (
        bucket INT PRIMARY KEY,
        at     TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE discord_rest_budget (
        name    TEXT PRIMARY KEY,
        next_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 6: the provider's render slots held by tasks about to be sent (storage/postgres/slots.py)
    """
    CREATE TABLE provider_slots (
        task_id TEXT PRIMARY KEY REFERENCES tasks(task_id) ON DELETE CASCADE,
        until   BIGINT NOT NULL
    );
    """,
    # 7: the budgets the settings last seeded (Ledger.seed_budgets): the settings replace the
    # stored budgets only when they changed since
    """
    CREATE TABLE budget_seed (
        id     INTEGER PRIMARY KEY CHECK (id = 1),
        seeded TEXT NOT NULL
    );
    """,
    # 8: requests waiting for their requester's Confirm, seen by every intake (storage/held.py)
    HELD,
    # 9: the price table in force per provider profile, changeable without a restart
    PRICES,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Advisory lock keys (any two constants of our own): one for migrations, one class for the
# per-user lock that makes a cap's check-and-insert atomic under READ COMMITTED.
MIGRATION_LOCK = 0x7669_6465  # "vide"
USER_LOCK_CLASS = 0x6F62_6F74  # "obot"
EDIT_LOCK_CLASS = 0x736C_6B65  # "slke": one workspace's chat.update budget
SLOT_LOCK = 0x736C_6F74  # "slot": the provider's render slots, counted and held as one step
BUDGET_LOCK_CLASS = 0x7370_6E64  # "spnd": a workspace's or channel's budget check-and-record
IDENTIFY_LOCK_CLASS = 0x6964_6E74  # "idnt": one Discord identify bucket

# The wake-up channel: sent on new work and cancels, never per row update.
CHANNEL = "videobot_work"
