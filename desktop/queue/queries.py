"""The hot-path SQL, by name, in one place.

Claiming and finishing run thousands of times a second, so they go to the driver as plain SQL
(SQLAlchemy's per-statement work would cost more than SQLite's own). Everything else in the
service uses SQLAlchemy Core. Parameters use the driver's own style (`:name` for sqlite3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

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

_BY_DIALECT = {"sqlite": SQLITE}


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
