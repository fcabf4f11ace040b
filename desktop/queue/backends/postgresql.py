"""PostgreSQL: many writers side by side under READ COMMITTED, row locks, LISTEN/NOTIFY.

A statement sees only what was committed when it began, and another claimer may commit in
between, so a write that decides from what it read locks what it read: `FOR UPDATE` (SKIP LOCKED
where a claimer should move on to the next candidate instead of waiting). Parameters use
psycopg's ``%(name)s`` style; lists go in as arrays.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from desktop.queue.backends import Backend, ChangeWatcher, ClaimRace, execute, fetch_one
from desktop.queue.tables import T

log = logging.getLogger(__name__)

CHANNEL = "agentq_tasks"  # NOTIFY channel: a task may have become claimable, or must stop
AGENT_LOCK = 0x61677132  # advisory lock class for "claiming for this agent" ("agq2")
MIGRATION_LOCK = 0x61677131  # advisory lock key taken while migrating ("agq1")
PING_AFTER_IDLE_S = 5.0  # a server connection unused this long is checked before use
RECONNECT_EVERY_S = 5.0

# Claiming takes two statements:
#   pick:  the first task in claim order that looks runnable, row-locked with SKIP LOCKED (so
#          claimers on many hosts never wait on each other's candidates), then a transaction-scoped
#          advisory lock on its agent (class AGENT_LOCK, key hashtext(name)): claimers of one
#          agent take turns from here until they commit;
#   claim: a new statement, so a new snapshot that sees every earlier claim of the agent:
#          re-checks pause and the agent's concurrency, takes the task and opens its attempt.
# An advisory lock rather than a row lock on agents: it writes nothing (a row lock dirties the
# agents page and the WAL on every claim) and never blocks pause() or update_agent(). Agents whose
# names share a hash only take turns needlessly. Lock keys need no lock: the trigger that counts a
# key's running tasks takes its row lock, and a step past its capacity fails the row's CHECK, so
# the second of two simultaneous claims beyond it fails, becomes a ClaimRace, and the next attempt
# sees the key full.
#
# Each statement costs a round trip to the server, more than its own work, so steps that SQLite
# runs one by one go in one statement as CTEs (data-modifying CTEs always run to completion). When
# the main UPDATE matches nothing, the caller raises and the rollback undoes the other CTEs.
_PICK_CANDIDATE = """
    SELECT t.id, t.agent FROM tasks AS t
    WHERE t.status IN ('pending', 'retrying')
      AND t.scheduled_for <= %(now)s
      AND t.agent IN (SELECT a.name FROM agents AS a WHERE NOT a.paused AND a.running < a.concurrency)
      AND (%(agents)s::text[] IS NULL OR t.agent = ANY(%(agents)s::text[]))
      AND (%(types)s::text[] IS NULL OR t.task_type = ANY(%(types)s::text[]))
      AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
      AND (t.lock_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM lock_keys AS k WHERE k.key = t.lock_key AND k.running >= k.capacity))
    ORDER BY t.priority DESC, t.scheduled_for, t.id
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
"""
# The subquery (LIMIT, FOR UPDATE) is never flattened: the lock is taken for its one row only.
_PICK = f"SELECT id, agent, pg_advisory_xact_lock({AGENT_LOCK}, hashtext(agent)) FROM ({_PICK_CANDIDATE}) AS c"
_NEW_ATTEMPT = """
    INSERT INTO task_attempts (task_id, number, worker_id, started_at, outcome)
    SELECT %(task_id)s, coalesce(max(number), 0) + 1, %(worker)s, %(now)s, 'running'
    FROM task_attempts WHERE task_id = %(task_id)s
"""
_CLAIM = f"""
    WITH claimed AS (
        UPDATE tasks
        SET status = 'running', attempts = attempts + 1, started_at = %(now)s, lease_owner = %(worker)s,
            lease_token = %(token)s, lease_expires_at = %(expires)s, progress = 0, progress_message = NULL
        WHERE id = %(task_id)s
          AND status IN ('pending', 'retrying')
          AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
          AND EXISTS (
              SELECT 1 FROM agents AS a WHERE a.name = tasks.agent AND NOT a.paused AND a.running < a.concurrency)
        RETURNING *
    ), attempt AS ({_NEW_ATTEMPT})
    SELECT * FROM claimed
"""
_END_ATTEMPT = """
    UPDATE task_attempts
    SET finished_at = %(now)s, duration_ms = CAST(round((%(now)s - started_at) * 1000) AS INTEGER),
        outcome = %(outcome)s, error = %(error)s, traceback = %(traceback)s,
        output_tail = coalesce(%(output_tail)s, output_tail)
    WHERE task_id = %(task_id)s AND outcome = 'running'
"""
# Two dependencies of one task completing at once would each see the other unfinished, and neither
# would unblock it. So completing locks the blocked dependents (in id order: two completions never
# wait on each other), and unblocks in a later statement, which begins after the other one commits.
_COMPLETE = f"""
    WITH done AS (
        UPDATE tasks
        SET status = 'completed', finished_at = %(now)s, result = %(result)s, progress = 100,
            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL
        WHERE id = %(task_id)s AND lease_token = %(token)s AND status = 'running'
        RETURNING *
    ), ended AS ({_END_ATTEMPT}), blocked AS (
        SELECT id FROM tasks
        WHERE status = 'blocked' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = %(task_id)s)
        ORDER BY id
        FOR UPDATE
    )
    SELECT done.*, (SELECT count(*) FROM blocked) AS blocked_dependents FROM done
"""
_UNBLOCK = """
    UPDATE tasks SET status = 'pending'
    WHERE status = 'blocked'
      AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = %(task_id)s)
      AND NOT EXISTS (
          SELECT 1 FROM task_dependencies AS d JOIN tasks AS p ON p.id = d.depends_on_id
          WHERE d.task_id = tasks.id AND p.status != 'completed')
"""


# The running counts of agents and lock keys follow the tasks' status, whoever writes it (see
# models.LockKeyRow). The upsert makes a key's row on first use, atomically even when another
# transaction inserts or prunes it at the same moment.
_COUNT_FUNCTION = """
CREATE FUNCTION agentq_count_running() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'running' AND (
        TG_OP = 'DELETE' OR NEW.status <> 'running' OR NEW.agent <> OLD.agent
        OR NEW.lock_key IS DISTINCT FROM OLD.lock_key
    ) THEN
        UPDATE agents SET running = running - 1 WHERE name = OLD.agent;
        IF OLD.lock_key IS NOT NULL THEN
            UPDATE lock_keys SET running = running - 1, ceiling = GREATEST(capacity, running - 1)
            WHERE key = OLD.lock_key;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'running' AND (
        TG_OP = 'INSERT' OR OLD.status <> 'running' OR NEW.agent <> OLD.agent
        OR NEW.lock_key IS DISTINCT FROM OLD.lock_key
    ) THEN
        UPDATE agents SET running = running + 1 WHERE name = NEW.agent;
        IF NEW.lock_key IS NOT NULL THEN
            INSERT INTO lock_keys AS k (key, running) VALUES (NEW.lock_key, 1)
            ON CONFLICT (key) DO UPDATE SET running = k.running + 1;
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""
_COUNT_TRIGGER = """
CREATE TRIGGER tasks_running_counts AFTER INSERT OR DELETE OR UPDATE OF status, agent, lock_key ON tasks
FOR EACH ROW EXECUTE FUNCTION agentq_count_running()
"""


class PostgresBackend(Backend):
    name = "postgresql"

    # -- engines and transactions ---------------------------------------------------------------

    def create_engine(self, url: URL, *, pool_size: int) -> Engine:
        """The isolation level is pinned to READ COMMITTED whatever the server's default: the
        claim's locking is written for it, and stricter levels would only add serialisation
        failures."""
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=4 * pool_size,
            isolation_level="READ COMMITTED",
            connect_args={"application_name": "agentq"},
        )
        _ping_when_idle(engine)
        return engine

    def begin(self, conn: Connection, *, write: bool) -> None:
        """Nothing to send: psycopg opens a transaction with the first statement."""

    def storage_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        return (OperationalError, engine.dialect.loaded_dbapi.OperationalError)

    def integrity_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        return (IntegrityError, engine.dialect.loaded_dbapi.IntegrityError)

    # -- migrations -----------------------------------------------------------------------------

    def migration_lock(self, conn: Connection) -> None:
        """A transaction-scoped advisory lock: whoever waited finds the schema at head and has
        nothing left to do."""
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")

    def create_running_counts(self, conn: Connection) -> None:
        conn.exec_driver_sql(_COUNT_FUNCTION)
        conn.exec_driver_sql(_COUNT_TRIGGER)

    def drop_running_counts(self, conn: Connection) -> None:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS tasks_running_counts ON tasks")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS agentq_count_running()")

    # -- change notification --------------------------------------------------------------------

    def notify(self, conn: Connection) -> None:
        execute(conn, f"NOTIFY {CHANNEL}", {})

    def watcher(self, engine: Engine) -> ChangeWatcher:
        return PostgresWatcher(engine)

    # -- SQL that differs -----------------------------------------------------------------------

    def minute_bucket(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.floor(column / 60)  # CAST would round

    def set_lock_capacity(self, conn: Connection, key: str, capacity: int) -> None:
        execute(
            conn,
            "INSERT INTO lock_keys AS k (key, capacity, ceiling) VALUES (%(key)s, %(capacity)s, %(capacity)s) "
            "ON CONFLICT (key) DO UPDATE SET capacity = %(capacity)s, ceiling = GREATEST(%(capacity)s, k.running)",
            {"key": key, "capacity": capacity},
        )

    def insert_tasks(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = conn.execute(insert(T).returning(T.c.id, sort_by_parameter_order=True), list(rows))
        return [r[0] for r in result]

    def claim(
        self,
        conn: Connection,
        *,
        now: float,
        worker: str,
        token: str,
        expires: float,
        agents: Iterable[str] | None,
        types: Iterable[str] | None,
    ) -> dict[str, Any] | None:
        params: dict[str, Any] = {
            "now": now, "worker": worker, "token": token, "expires": expires,
            "agents": None if agents is None else list(agents),
            "types": None if types is None else list(types),
        }
        candidate = fetch_one(conn, _PICK, params)
        if candidate is None:
            return None
        try:
            row = fetch_one(conn, _CLAIM, {**params, "task_id": candidate["id"]})
        except self.integrity_errors(conn.engine) as exc:  # its lock key was taken meanwhile
            raise ClaimRace from exc
        if row is None:  # its agent filled up or was paused meanwhile
            raise ClaimRace
        return row

    def complete(
        self, conn: Connection, *, task_id: int, token: str, now: float, result: str, output_tail: str | None
    ) -> tuple[dict[str, Any] | None, int]:
        params = {
            "task_id": task_id, "token": token, "now": now, "result": result, "outcome": "completed",
            "error": None, "traceback": None, "output_tail": output_tail,
        }
        row = fetch_one(conn, _COMPLETE, params)
        if row is None:
            return None, 0
        if not row.pop("blocked_dependents"):
            return row, 0
        return row, execute(conn, _UNBLOCK, params)

    def end_attempt(self, conn: Connection, params: Mapping[str, Any]) -> None:
        execute(conn, _END_ATTEMPT, params)


POSTGRESQL = PostgresBackend()


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use, as pool_pre_ping does, but only after it sat idle.

    A ping is a round trip to the server: on every checkout it costs a quarter of a busy worker's
    throughput. A connection used moments ago is alive; one idle for a while may have been cut by
    a server restart, a firewall or idle_session_timeout, and is replaced before anyone sees it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", time.monotonic()) < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"dropped an idle connection that no longer answers: {exc}") from exc


class PostgresWatcher:
    """LISTENs on its own connection, outside the engine's pool (a pooled connection would carry
    the LISTEN to whoever borrows it next). If the server goes away, `changed()` says True once
    (notifications may have been missed), then False while it reconnects every few seconds: the
    worker's poll interval covers the gap.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None
        self._first = True
        self._next_connect = 0.0
        self._try_connect()

    def _try_connect(self) -> bool:
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - the poll interval is the fallback
            log.warning("cannot LISTEN for new tasks (%s); polling instead", type(exc).__name__)
            return False
        return True

    def _connect(self) -> None:
        self._next_connect = time.monotonic() + RECONNECT_EVERY_S
        pooled = self._engine.raw_connection()
        pooled.detach()  # closing it closes the connection instead of returning it to the pool
        conn = pooled.dbapi_connection
        assert conn is not None
        conn.rollback()  # the pool's ping may have opened a transaction
        conn.autocommit = True  # type: ignore[attr-defined]
        conn.execute(f"LISTEN {CHANNEL}")  # type: ignore[attr-defined]
        self._conn = conn

    def changed(self) -> bool:
        first, self._first = self._first, False
        if self._conn is None:
            if time.monotonic() < self._next_connect or not self._try_connect():
                return first
            return True  # whatever happened while it was not listening
        try:
            # libpq reads what the socket holds and never blocks here.
            pgconn = self._conn.pgconn
            pgconn.consume_input()
            heard = False
            while pgconn.notifies() is not None:
                heard = True
            return heard or first
        except Exception as exc:  # noqa: BLE001 - the connection broke; listen again later
            log.warning("lost the LISTEN connection (%s); reconnecting", type(exc).__name__)
            self.close()
            return True

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # already broken
                conn.close()
