"""`videobot doctor` on the PostgreSQL ledger: reachable, its version, the schema (it looks; it
never migrates), and whether a failover could lose acknowledged commits."""

from __future__ import annotations

import psycopg

from adapters.ops.check import Check
from bot.dburl import redacted
from bot.domain import LIVE_STATES
from storage.postgres.connect import PgLedgerError, connect, schema_version
from storage.postgres.schema import SCHEMA_VERSION

MIN_SERVER = 130000  # FOR UPDATE SKIP LOCKED, DROP DATABASE ... WITH (FORCE), and more


# Live tasks recorded for a provider other than this process's (an empty provider is anyone's).
_OTHERS = (
    "SELECT body->>'provider', COUNT(*) FROM tasks WHERE state = ANY(%s) "
    "AND coalesce(body->>'provider', '') NOT IN ('', %s) GROUP BY 1 ORDER BY 1"
)


async def check_database(url: str, provider: str | None = None) -> list[Check]:
    """`provider`: this process's VIDEOBOT_PROVIDER; live tasks of another one are named."""
    where = redacted(url)
    try:
        conn = await connect(url)
    except PgLedgerError as err:
        return [Check("database", False, str(err), "fix VIDEOBOT_DATABASE_URL or start the server")]
    try:
        server = conn.info.server_version
        version = await schema_version(conn)
        tasks = 0
        others: list[tuple[object, ...]] = []
        if version:
            cur = await conn.execute("SELECT COUNT(*) FROM tasks")
            tasks = int(str((await cur.fetchone() or (0,))[0]))
            if provider is not None:
                live = sorted(s.value for s in LIVE_STATES)
                others = await (await conn.execute(_OTHERS, (live, provider))).fetchall()
        standbys = await _setting(conn, "synchronous_standby_names")
        commit = await _setting(conn, "synchronous_commit")
    except psycopg.Error as err:
        return [Check("database", False, f"{where}: {type(err).__name__}", "check the server")]
    finally:
        await conn.close()
    shown = f"PostgreSQL {server // 10000}.{server % 10000}"
    checks = [
        Check(
            "database",
            server >= MIN_SERVER,
            f"{where}: {shown}",
            "" if server >= MIN_SERVER else "use PostgreSQL 13 or newer",
        ),
        _schema(version, tasks),
    ]
    if others:
        checks.append(_other_providers(others, provider or ""))
    if not standbys or commit in ("off", "local"):
        # Not a failure: one server is a fine setup. But a failover to an asynchronous replica
        # can lose a `submitting` row the provider already billed, so the operator should know.
        checks.append(
            Check(
                "replication",
                True,
                "no synchronous standby: a failover to a replica may lose the last commits "
                "(a task could then be sent to the provider twice); fine on a single server",
            )
        )
    else:
        checks.append(Check("replication", True, f"synchronous standby: {standbys}"))
    return checks


def _other_providers(others: list[tuple[object, ...]], provider: str) -> Check:
    # Not a failure: processes of several providers may share the database. But a worker works
    # only its own provider's tasks, so these wait until a process of theirs runs.
    held = ", ".join(f"{count} with {name}" for name, count in others)
    return Check(
        "providers",
        True,
        f"live tasks of another provider than {provider}: {held}; only a process with that "
        "VIDEOBOT_PROVIDER works them",
        "run a worker with each provider named until its tasks end, or cancel them "
        "(videobot tasks cancel REF)",
        warned=True,
    )


def _schema(version: int, tasks: int) -> Check:
    if version == 0:
        return Check("schema", True, f"none yet; the first start creates v{SCHEMA_VERSION}")
    if version > SCHEMA_VERSION:
        return Check(
            "schema",
            False,
            f"v{version}, newer than this videobot (v{SCHEMA_VERSION})",
            "upgrade videobot",
        )
    later = "" if version == SCHEMA_VERSION else f" (the next start migrates to v{SCHEMA_VERSION})"
    noun = "task" if tasks == 1 else "tasks"
    return Check("schema", True, f"v{version}{later}, {tasks} {noun}")


async def _setting(conn: psycopg.AsyncConnection[tuple[object, ...]], name: str) -> str:
    cur = await conn.execute("SELECT current_setting(%s)", (name,))
    row = await cur.fetchone()
    return str(row[0]).strip() if row else ""
