"""The hot-path SQL, by name and dialect, in one place.

Claiming and finishing run thousands of times a second, so they go to the driver as plain SQL
(SQLAlchemy's per-statement work would cost more than SQLite's own). Everything else in the
service uses SQLAlchemy Core. Parameters use the driver's own style (`:name` for sqlite3,
`%(name)s` for psycopg); `claim` and `complete` adapt the service's arguments to each dialect.

SQLite runs every write under one database-wide lock, so a single statement is enough. PostgreSQL
runs claims side by side under READ COMMITTED, where a statement sees only what was committed
when it began; see POSTGRESQL for how claims stay exact there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

CHANNEL = "agentq_tasks"  # PostgreSQL NOTIFY channel: a task may have become claimable
AGENT_LOCK = 0x61677132  # advisory lock class for "claiming for this agent" ("agq2")


class ClaimRace(Exception):
    """Another connection took the candidate's last agent slot or its lock key between our read
    and our write (PostgreSQL only). Roll back and claim again: the next snapshot sees it."""


SQLITE: dict[str, str] = {
    # One UPDATE ... RETURNING claims the first task in claim order that may run now: ready and
    # due, its agent unpaused and under its concurrency limit, the queue unpaused, its lock key
    # free. INDEXED BY: without statistics SQLite may choose ix_tasks_status_agent and sort every
    # ready row; ix_tasks_ready yields rows in claim order, so the scan stops at the first fit.
    "claim": """
        UPDATE tasks
        SET status = 'running', attempts = attempts + 1, started_at = :now, lease_owner = :worker,
            lease_token = :token, lease_expires_at = :expires, progress = 0, progress_message = NULL
        WHERE id = (
            SELECT t.id FROM tasks AS t INDEXED BY ix_tasks_ready
            WHERE t.status IN ('pending', 'retrying')
              AND t.scheduled_for <= :now
              AND t.agent IN (
                  SELECT a.name FROM agents AS a
                  WHERE a.paused = 0 AND a.concurrency > (
                      SELECT count(*) FROM tasks AS r WHERE r.status = 'running' AND r.agent = a.name))
              AND (:agents IS NULL OR t.agent IN (SELECT value FROM json_each(:agents)))
              AND (:types IS NULL OR t.task_type IN (SELECT value FROM json_each(:types)))
              AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
              AND (t.lock_key IS NULL OR NOT EXISTS (
                  SELECT 1 FROM tasks AS held WHERE held.lock_key = t.lock_key AND held.status = 'running'))
            ORDER BY t.priority DESC, t.scheduled_for, t.id
            LIMIT 1)
        RETURNING *
    """,
    # Attempts are numbered across manual retries, which reset the task's own attempt counter.
    "new_attempt": """
        INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome)
        SELECT :task_id, coalesce(max(number), 0) + 1, :worker, :now, 'running'
        FROM task_attempts WHERE task_id = :task_id
    """,
    "complete": """
        UPDATE tasks
        SET status = 'completed', finished_at = :now, result = :result, progress = 100,
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = :id AND lease_token = :token AND status = 'running'
        RETURNING *
    """,
    # Closes the running attempt; an output tail sent earlier by heartbeats is kept.
    "end_attempt": """
        UPDATE task_attempts
        SET finished_at = :now, duration_ms = CAST(round((:now - started_at) * 1000) AS INTEGER),
            outcome = :outcome, error = :error, traceback = :traceback,
            output_tail = coalesce(:output_tail, output_tail)
        WHERE task_id = :task_id AND outcome = 'running'
    """,
    # A completed task frees the blocked tasks whose dependencies have now all completed.
    "unblock": """
        UPDATE tasks SET status = 'pending'
        WHERE status = 'blocked'
          AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = :done)
          AND NOT EXISTS (
              SELECT 1 FROM task_dependencies AS d JOIN tasks AS p ON p.id = d.depends_on_id
              WHERE d.task_id = tasks.id AND p.status != 'completed')
    """,
}


def _pyformat(sql: str) -> str:
    """SQLite's `:name` parameters as psycopg's `%(name)s`, for the statements both share."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


_SHARED = {name: _pyformat(SQLITE[name]) for name in ("new_attempt", "complete", "end_attempt", "unblock")}

# Claiming on PostgreSQL takes two statements, because under READ COMMITTED a statement sees only
# what was committed when it began, and another claimer may commit in between:
#   pick:  the first task in claim order that looks runnable, row-locked with SKIP LOCKED (so
#          claimers on many hosts never wait on each other's candidates), then a transaction-scoped
#          advisory lock on its agent (class AGENT_LOCK, key hashtext(name)): claimers of one
#          agent take turns from here until they commit;
#   claim: a new statement, so a new snapshot that sees every earlier claim of the agent:
#          re-checks pause and the agent's concurrency, takes the task and opens its attempt.
# An advisory lock rather than a row lock on agents: it writes nothing (a row lock dirties the
# agents page and the WAL on every claim) and never blocks pause() or update_agent(). Agents whose
# names share a hash only take turns needlessly. Lock keys need no lock: the partial unique index
# ux_tasks_running_lock refuses the second of two simultaneous claims of one key, which becomes a
# ClaimRace, and the next attempt sees the key held.
#
# Each statement costs a round trip to the server, more than its own work, so steps that SQLite
# runs one by one go in one statement as CTEs (data-modifying CTEs always run to completion). When
# the main UPDATE matches nothing, the caller raises and the rollback undoes the other CTEs.
_PICK = """
    SELECT t.id, t.agent FROM tasks AS t
    WHERE t.status IN ('pending', 'retrying')
      AND t.scheduled_for <= %(now)s
      AND t.agent IN (
          SELECT a.name FROM agents AS a
          WHERE NOT a.paused AND a.concurrency > (
              SELECT count(*) FROM tasks AS r WHERE r.status = 'running' AND r.agent = a.name))
      AND (%(agents)s::text[] IS NULL OR t.agent = ANY(%(agents)s::text[]))
      AND (%(types)s::text[] IS NULL OR t.task_type = ANY(%(types)s::text[]))
      AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
      AND (t.lock_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM tasks AS held WHERE held.lock_key = t.lock_key AND held.status = 'running'))
    ORDER BY t.priority DESC, t.scheduled_for, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
"""
_CLAIM = """
    UPDATE tasks
    SET status = 'running', attempts = attempts + 1, started_at = %(now)s, lease_owner = %(worker)s,
        lease_token = %(token)s, lease_expires_at = %(expires)s, progress = 0, progress_message = NULL
    WHERE id = %(id)s
      AND status IN ('pending', 'retrying')
      AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
      AND EXISTS (
          SELECT 1 FROM agents AS a
          WHERE a.name = tasks.agent AND NOT a.paused AND a.concurrency > (
              SELECT count(*) FROM tasks AS r WHERE r.status = 'running' AND r.agent = a.name))
    RETURNING *
"""
# Two dependencies of one task completing at once would each see the other unfinished, and neither
# would unblock it. So completing locks the blocked dependents (in id order: two completions never
# wait on each other), and unblocks in a later statement, which begins after the other one commits.
_LOCK_DEPENDENTS = """
    SELECT id FROM tasks
    WHERE status = 'blocked' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = %(id)s)
    ORDER BY id
    FOR UPDATE
"""
POSTGRESQL: dict[str, str] = {
    **_SHARED,
    # The subquery (LIMIT, FOR UPDATE) is never flattened: the lock is taken for its one row only.
    "pick": f"SELECT id, agent, pg_advisory_xact_lock({AGENT_LOCK}, hashtext(agent)) FROM ({_PICK}) AS candidate",
    "claim": f"WITH claimed AS ({_CLAIM}), attempt AS ({_SHARED['new_attempt']}) SELECT * FROM claimed",
    "complete": f"""
        WITH done AS ({_SHARED['complete']}), ended AS ({_SHARED['end_attempt']}), blocked AS ({_LOCK_DEPENDENTS})
        SELECT done.*, (SELECT count(*) FROM blocked) AS blocked_dependents FROM done
    """,
    "notify": f"NOTIFY {CHANNEL}",
}

_BY_DIALECT = {"sqlite": SQLITE, "postgresql": POSTGRESQL}


def claim(
    conn: Connection,
    *,
    now: float,
    worker: str,
    token: str,
    expires: float,
    agents: Iterable[str] | None,
    types: Iterable[str] | None,
) -> dict[str, Any] | None:
    """Claim the next runnable task for `worker` (filtered by agents and task types) and open its
    attempt; return the task's row, or None.

    Raises ClaimRace when a concurrent claimer won; the caller retries in a new transaction.
    """
    params: dict[str, Any] = {"now": now, "worker": worker, "token": token, "expires": expires}
    if conn.dialect.name == "sqlite":  # lists go in as JSON text, read back with json_each
        params["agents"] = None if agents is None else json.dumps(list(agents))
        params["types"] = None if types is None else json.dumps(list(types))
        row = fetch_one(conn, "claim", params)
        if row is not None:
            execute(conn, "new_attempt", {**params, "task_id": row["id"]})
        return row
    params["agents"] = None if agents is None else list(agents)
    params["types"] = None if types is None else list(types)
    candidate = fetch_one(conn, "pick", params)
    if candidate is None:
        return None
    try:
        row = fetch_one(conn, "claim", {**params, "id": candidate["id"], "task_id": candidate["id"]})
    except conn.dialect.loaded_dbapi.IntegrityError as exc:  # its lock key was taken meanwhile
        raise ClaimRace from exc
    if row is None:  # its agent filled up or was paused meanwhile
        raise ClaimRace
    return row


def complete(
    conn: Connection, *, task_id: int, token: str, now: float, result: str, output_tail: str | None
) -> tuple[dict[str, Any] | None, int]:
    """Complete a claimed task, close its attempt and unblock the dependents that can now run.

    Returns the task's row (None when `token` is not its lease: the caller must roll back) and the
    number of tasks unblocked.
    """
    params = {
        "id": task_id, "task_id": task_id, "done": task_id, "token": token, "now": now, "result": result,
        "outcome": "completed", "error": None, "traceback": None, "output_tail": output_tail,
    }
    row = fetch_one(conn, "complete", params)
    if row is None:
        return None, 0
    if conn.dialect.name == "sqlite":
        execute(conn, "end_attempt", params)
    elif not row.pop("blocked_dependents"):
        return row, 0
    return row, execute(conn, "unblock", params)


def notify(conn: Connection) -> None:
    """Tell LISTENing workers on other hosts, when this transaction commits, that a task may have
    become claimable or been asked to stop. SQLite needs nothing: its watcher sees every commit."""
    if "notify" in _BY_DIALECT[conn.dialect.name]:
        execute(conn, "notify", {})


def fetch_one(conn: Connection, name: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Run the named statement on `conn`'s transaction; return its first row as a dict."""
    cursor = _run(conn, name, params)
    try:
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip((d[0] for d in cursor.description), row))
    finally:
        cursor.close()


def execute(conn: Connection, name: str, params: dict[str, Any]) -> int:
    """Run the named statement on `conn`'s transaction; return the number of rows it changed."""
    cursor = _run(conn, name, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _run(conn: Connection, name: str, params: dict[str, Any]) -> Any:
    sql = _BY_DIALECT[conn.dialect.name][name]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(sql, params)
    return cursor
