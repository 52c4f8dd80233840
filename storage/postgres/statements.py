"""The SQL the PostgreSQL ledger runs, in one place. Parameters are psycopg's `%s`; a literal
percent sign is written `%%`."""

from __future__ import annotations

from bot.domain import LIVE_STATES, RENDERING_STATES
from storage.codec import COLUMNS

# The body is JSONB; the codec reads it back as the text it wrote.
SELECT_COLUMNS = ", ".join("body::text" if c == "body" else c for c in COLUMNS)
T_COLUMNS = ", ".join("t.body::text" if c == "body" else f"t.{c}" for c in COLUMNS)
SELECT = f"SELECT {SELECT_COLUMNS} FROM tasks"
LIVE = ", ".join(f"'{s.value}'" for s in sorted(LIVE_STATES))
RENDERING = ", ".join(f"'{s.value}'" for s in sorted(RENDERING_STATES))
FAIR_WINDOW = 256
# A process serving some platforms sees only their tasks (user_key is platform:workspace:user).
SCOPE = " AND split_part(user_key, ':', 1) = ANY(%(platforms)s)"
# A worker works only its own provider's tasks (another's API would lose them, though paid
# for); a task from before tasks recorded their provider is anyone's.
PROVIDER_SCOPE = " AND coalesce(body->>'provider', '') IN ('', %(provider)s)"

INSERT = (
    f"INSERT INTO tasks ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('%s::jsonb' if c == 'body' else '%s' for c in COLUMNS)}) "
    "ON CONFLICT (idem_key) DO NOTHING RETURNING task_id"
)

# A save never touches the lease: a step that saves halfway keeps holding its row.
UPDATE = (
    "UPDATE tasks SET state=%s, version=%s, updated_at=%s, next_check_at=%s, "
    "provider_task_id=%s, body=%s::jsonb WHERE task_id=%s AND version=%s"
)

# Due and not held by a live lease. Every user's first row comes before anyone's second (the
# ranking sits in its own CTE: PostgreSQL refuses FOR UPDATE beside a window function), over
# the oldest due rows only, read through the tasks_due index.
_DUE = (
    "SELECT task_id, user_key, next_check_at FROM tasks WHERE next_check_at <= %(now)s "
    "AND (lease_until IS NULL OR lease_until <= %(now)s){scope} "
    "ORDER BY next_check_at LIMIT %(window)s"
)
_FAIR = (
    "ranked AS (SELECT task_id, next_check_at, ROW_NUMBER() OVER "
    "(PARTITION BY user_key ORDER BY next_check_at) AS lane FROM due), "
    "picked AS (SELECT task_id, lane, next_check_at FROM ranked "
    "ORDER BY lane, next_check_at LIMIT %(limit)s)"
)


def due_query(scope: str, excluding: bool) -> str:
    """`scope`: the worker's platform and provider conditions (SCOPE, PROVIDER_SCOPE) or ""."""
    skip = " AND task_id <> ALL(%(exclude)s)" if excluding else ""
    due = _DUE.format(scope=skip + scope)
    return (
        f"WITH due AS ({due}), {_FAIR} SELECT {T_COLUMNS} FROM tasks t "
        "JOIN picked p ON p.task_id = t.task_id ORDER BY p.lane, p.next_check_at"
    )


def claim_query(scope: str) -> str:
    """Lease the fairest due rows: rows another claimer has locked are skipped, not waited
    for; each claimed row's version is bumped (the fencing token of every later save) and no
    other claim takes it before the lease lapses, should its holder vanish."""
    due = _DUE.format(scope=scope) + " FOR UPDATE SKIP LOCKED"
    return (
        f"WITH due AS ({due}), {_FAIR} UPDATE tasks t SET version = t.version + 1, "
        "lease_until = %(until)s FROM picked "
        f"WHERE t.task_id = picked.task_id RETURNING {T_COLUMNS}, picked.lane"
    )


RENEW = (
    "UPDATE tasks SET lease_until = %(until)s WHERE task_id = %(task_id)s "
    "AND lease_until = %(held)s"
)
RELEASE = (
    "UPDATE tasks SET lease_until = NULL WHERE task_id = %(task_id)s AND lease_until = %(held)s"
)

NEXT_DUE_AFTER = (
    "SELECT LEAST((SELECT MIN(next_check_at) FROM tasks WHERE next_check_at > %(after)s{scope}), "
    "(SELECT MIN(lease_until) FROM tasks WHERE lease_until > %(after)s "
    "AND next_check_at IS NOT NULL{scope}))"
)
MAKE_DUE = (
    "UPDATE tasks SET next_check_at = LEAST(coalesce(next_check_at, %(now)s), %(now)s) "
    "WHERE task_id = (SELECT task_id FROM tasks WHERE provider_task_id = %(ptid)s "
    f"AND state IN ({RENDERING}){{scope}} LIMIT 1) AND state IN ({RENDERING}) RETURNING task_id"
)

MEDIA_IN_USE = (
    "SELECT m->>'path' FROM tasks, jsonb_array_elements(body->'request'->'images') AS m "
    f"WHERE state IN ({LIVE}) OR updated_at >= %(since)s "
    "UNION SELECT body->'request'->'video'->>'path' FROM tasks "
    f"WHERE state IN ({LIVE}) OR updated_at >= %(since)s"
)
