"""Migration 4 of the PostgreSQL ledger: the spend and budgets tables (as SQLite's, in
storage/sqlite/budgets.py), and the trigger that settles a task's spend row whenever its body's
settlement changes. The spend row itself is written with the task (storage/postgres/spend.py)."""

SPEND = """
CREATE TABLE spend (
    task_id       TEXT PRIMARY KEY REFERENCES tasks(task_id) ON DELETE CASCADE,
    user_key      TEXT NOT NULL,
    workspace_key TEXT NOT NULL,
    channel_key   TEXT NOT NULL,
    provider      TEXT NOT NULL,
    unit          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    reserved      BIGINT NOT NULL,
    actual        BIGINT,
    source        TEXT,
    settled_at    BIGINT
);
CREATE INDEX spend_user ON spend(user_key, unit, created_at);
CREATE INDEX spend_workspace ON spend(workspace_key, unit, created_at);
CREATE INDEX spend_channel ON spend(channel_key, unit, created_at);
CREATE INDEX spend_created ON spend(created_at);
CREATE TABLE budgets (
    scope        TEXT NOT NULL CHECK (scope IN ('user', 'workspace', 'channel')),
    subject      TEXT NOT NULL,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
    unit         TEXT NOT NULL,
    limit_micros BIGINT NOT NULL CHECK (limit_micros >= 0),
    PRIMARY KEY (scope, subject, period, unit)
);
CREATE FUNCTION spend_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.body->>'spent') IS DISTINCT FROM (OLD.body->>'spent')
       OR (NEW.body->>'spent_source') IS DISTINCT FROM (OLD.body->>'spent_source') THEN
        UPDATE spend SET actual = (NEW.body->>'spent')::BIGINT,
                         source = NEW.body->>'spent_source',
                         settled_at = NEW.updated_at
        WHERE task_id = NEW.task_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER spend_settled AFTER UPDATE OF body ON tasks
    FOR EACH ROW EXECUTE FUNCTION spend_settled();
"""
