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

from desktop.queue.backends import (
    ATTEMPT_COLUMNS,
    ATTEMPT_SUMS,
    CLAIMED,
    COMPLETE_FIELDS,
    HOUR_S,
    SETTLED_COLUMNS,
    STATUSES,
    Backend,
    ChangeWatcher,
    ClaimRace,
    ClaimRequest,
    admit,
    execute,
    execute_many,
    fetch_all,
    fetch_claims,
)
from desktop.queue.tables import T
from desktop.queue.types import Claim

log = logging.getLogger(__name__)

CHANNEL = "agentq_tasks"  # NOTIFY channel: a task may have become claimable, or must stop
MIGRATION_LOCK = 0x61677131  # advisory lock key taken while migrating ("agq1")
PING_AFTER_IDLE_S = 5.0  # a server connection unused this long is checked before use
RECONNECT_EVERY_S = 5.0
CANDIDATE_SLACK = 16  # candidates locked beyond the limit, for those skipped as the claim fills up

# A claim, under READ COMMITTED, where a statement sees only what was committed when it began:
#   candidates: the first tasks in claim order that look runnable, row-locked with SKIP LOCKED, so
#          claimers on many hosts never wait on each other's candidates;
#   room:  the running counts of their agents (task_counts) and lock keys, locked (FOR NO KEY
#          UPDATE, in name order, after making any missing lock key row) and read again: the
#          newest committed values, which no one can change until we commit. Admitting candidates
#          against them is exact, however many claimers run at once;
#   take:  the admitted tasks become running; the triggers count them on rows we already hold.
# A row lock on an agent's counts serialises its claimers and settlers for the moment of their
# commit, which is what exact counts cost (it never blocks pause() or update_agent(): agents rows
# are not locked). Every writer locks counts in one order (agents, then lock keys,
# each by name), so two never wait on each other in a circle.
_CANDIDATES = """
    SELECT t.id, t.agent, t.lock_key FROM tasks AS t
    WHERE t.status IN ('pending', 'retrying')
      AND t.scheduled_for <= %(now)s
      AND t.agent IN (
          SELECT a.name FROM agents AS a LEFT JOIN task_counts AS c ON c.agent = a.name
          WHERE NOT a.paused AND coalesce(c.running, 0) < a.concurrency)
      AND (%(agents)s::text[] IS NULL OR t.agent = ANY(%(agents)s::text[]))
      AND (%(types)s::text[] IS NULL OR t.task_type = ANY(%(types)s::text[]))
      AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
      AND (t.lock_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM lock_keys AS k WHERE k.key = t.lock_key AND k.running >= k.capacity))
    ORDER BY t.priority DESC, t.sort_order, t.scheduled_for, t.id
    LIMIT %(limit)s
    FOR UPDATE OF t SKIP LOCKED
"""
_MAKE_KEYS = """
    INSERT INTO lock_keys (key) SELECT k FROM unnest(%(keys)s::text[]) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING
"""
_AGENT_ROOM = """
    SELECT a.name, CASE WHEN a.paused THEN 0 ELSE a.concurrency - c.running END AS free
    FROM task_counts AS c JOIN agents AS a ON a.name = c.agent
    WHERE c.agent = ANY(%(agents)s::text[]) ORDER BY c.agent FOR NO KEY UPDATE OF c
"""
_KEY_ROOM = """
    SELECT key, capacity - running AS free FROM lock_keys
    WHERE key = ANY(%(keys)s::text[]) ORDER BY key FOR NO KEY UPDATE
"""
_TAKE = """
    UPDATE tasks
    SET status = 'running', attempts = attempts + 1, started_at = %(now)s, lease_owner = %(worker)s,
        lease_token = %(secret)s || id, lease_expires_at = %(expires)s, lease_host = %(host)s, lease_pid = NULL,
        progress = 0, progress_message = NULL, output_tail = NULL
    WHERE id = ANY(%(ids)s::bigint[])
"""
# Completing a batch: the rows are locked first (a rescuer or a cancel made meanwhile waits, or
# is waited for), then one statement writes the attempts and the rows: its parts see the rows as
# they were, so the attempts get the lease's worker, host and output.
_LOCK_COMPLETING = """
    SELECT id, agent, lock_key FROM tasks
    WHERE id = ANY(%(id)s::bigint[]) AND status = 'running' ORDER BY id FOR UPDATE
"""
_COMPLETE_TYPES = {
    "id": "bigint", "token": "text", "result": "text", "output_tail": "text", "cost_usd": "float8",
    "input_tokens": "bigint", "output_tokens": "bigint", "cached_tokens": "bigint", "details": "text",
}
_ITEMS = (
    f"unnest({', '.join(f'%({f})s::{_COMPLETE_TYPES[f]}[]' for f in COMPLETE_FIELDS)}) "
    f"AS i({', '.join(COMPLETE_FIELDS)})"
)
_COMPLETE = f"""
    WITH attempts AS (
        INSERT INTO task_attempts (number, {', '.join(ATTEMPT_COLUMNS)})
        SELECT (SELECT coalesce(max(a.number), 0) + 1 FROM task_attempts AS a WHERE a.task_id = t.id),
               t.id, coalesce(t.lease_owner, ''), coalesce(t.started_at, %(now)s), %(now)s,
               CAST(round(GREATEST(%(now)s - coalesce(t.started_at, %(now)s), 0) * 1000) AS BIGINT), 'completed', NULL, NULL,
               coalesce(i.output_tail, t.output_tail), i.cost_usd, i.input_tokens, i.output_tokens, i.cached_tokens,
               i.details, t.lease_host, t.lease_pid
        FROM {_ITEMS} JOIN tasks AS t ON t.id = i.id
        WHERE t.lease_token = i.token AND t.status = 'running'
    )
    UPDATE tasks
    SET status = 'completed', finished_at = %(now)s, result = i.result, progress = 100,
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, lease_host = NULL, lease_pid = NULL,
        output_tail = NULL
    FROM {_ITEMS}
    WHERE tasks.id = i.id AND tasks.lease_token = i.token AND tasks.status = 'running'
"""
_RUNNING_ROWS = "SELECT * FROM tasks WHERE id = ANY(%(ids)s::bigint[]) AND status = 'running' ORDER BY id FOR UPDATE"
_SAVE_SETTLED = f"""
    UPDATE tasks
    SET {', '.join(f'{c} = %({c})s' for c in SETTLED_COLUMNS)},
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, lease_host = NULL, lease_pid = NULL,
        output_tail = NULL
    WHERE id = %(id)s
"""
_INSERT_ATTEMPT = f"""
    INSERT INTO task_attempts (number, {', '.join(ATTEMPT_COLUMNS)})
    VALUES ((SELECT coalesce(max(number), 0) + 1 FROM task_attempts WHERE task_id = %(task_id)s),
            {', '.join(f'%({c})s' for c in ATTEMPT_COLUMNS)})
"""
# Two dependencies of one task completing at once would each see the other unfinished, and neither
# would unblock it. So completing locks the blocked dependents (in id order: two completions never
# wait on each other), and unblocks in a later statement, which begins after the other one commits.
_LOCK_DEPENDENTS = """
    SELECT id FROM tasks
    WHERE status = 'blocked'
      AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = ANY(%(done)s::bigint[]))
    ORDER BY id
    FOR UPDATE
"""
_UNBLOCK = """
    UPDATE tasks SET status = 'pending'
    WHERE status = 'blocked'
      AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = ANY(%(done)s::bigint[]))
      AND NOT EXISTS (
          SELECT 1 FROM task_dependencies AS d JOIN tasks AS p ON p.id = d.depends_on_id
          WHERE d.task_id = tasks.id AND p.status != 'completed')
"""


# Counts follow the tasks, whoever writes them (see models.TaskCountRow and LockKeyRow). The
# upserts make a row on first use, atomically even when another transaction inserts or prunes it
# at the same moment; a step past a key's capacity fails its CHECK.
_ADD = (
    f"INSERT INTO task_counts AS c (agent, {', '.join(STATUSES)}) "
    f"VALUES (NEW.agent, {', '.join(f'(NEW.status = {s!r})::int' for s in STATUSES)}) "
    f"ON CONFLICT (agent) DO UPDATE SET {', '.join(f'{s} = c.{s} + excluded.{s}' for s in STATUSES)};"
)
_SUBTRACT = (
    f"UPDATE task_counts SET {', '.join(f'{s} = {s} - (OLD.status = {s!r})::int' for s in STATUSES)} "
    "WHERE agent = OLD.agent;"
)
_MOVE = (
    "UPDATE task_counts SET "
    f"{', '.join(f'{s} = {s} + (NEW.status = {s!r})::int - (OLD.status = {s!r})::int' for s in STATUSES)} "
    "WHERE agent = NEW.agent;"
)
_COUNT_FUNCTION = f"""
CREATE FUNCTION agentq_count_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.agent = OLD.agent THEN
        IF NEW.status <> OLD.status THEN
            {_MOVE}
        END IF;
    ELSE
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            {_SUBTRACT}
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            {_ADD}
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'running' AND OLD.lock_key IS NOT NULL AND (
        TG_OP = 'DELETE' OR NEW.status <> 'running' OR NEW.lock_key IS DISTINCT FROM OLD.lock_key
    ) THEN
        UPDATE lock_keys SET running = running - 1, ceiling = GREATEST(capacity, running - 1)
        WHERE key = OLD.lock_key;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'running' AND NEW.lock_key IS NOT NULL AND (
        TG_OP = 'INSERT' OR OLD.status <> 'running' OR NEW.lock_key IS DISTINCT FROM OLD.lock_key
    ) THEN
        INSERT INTO lock_keys AS k (key, running) VALUES (NEW.lock_key, 1)
        ON CONFLICT (key) DO UPDATE SET running = k.running + 1;
    END IF;
    RETURN NULL;
END
$$
"""
_COUNT_TRIGGER = """
CREATE TRIGGER tasks_counts AFTER INSERT OR DELETE OR UPDATE OF status, agent, lock_key ON tasks
FOR EACH ROW EXECUTE FUNCTION agentq_count_tasks()
"""

# The attempt ledger: each attempt row, as it is written, is added to its hour's totals. Every
# writer of attempts holds its agent's task_counts row (lock_counts) first, so two transactions
# never wait on each other's totals rows in a circle.
_ENDED = "coalesce({a}.finished_at, {a}.started_at)"
_TOTALS = ", ".join(ATTEMPT_SUMS)
_TOTALS_FUNCTION = f"""
CREATE FUNCTION agentq_total_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO attempt_totals AS l (bucket, agent, repo, outcome, {_TOTALS}, last_at)
    SELECT (floor({_ENDED.format(a='NEW')} / {HOUR_S}) * {HOUR_S})::bigint, t.agent, coalesce(t.repo, ''),
           NEW.outcome, {', '.join(v.format(a='NEW') for v in ATTEMPT_SUMS.values())}, {_ENDED.format(a='NEW')}
    FROM tasks AS t WHERE t.id = NEW.task_id
    ON CONFLICT (bucket, agent, repo, outcome) DO UPDATE SET
        {', '.join(f'{c} = l.{c} + excluded.{c}' for c in ATTEMPT_SUMS)}, last_at = GREATEST(l.last_at, excluded.last_at);
    RETURN NULL;
END
$$
"""
_TOTALS_TRIGGER = (
    "CREATE TRIGGER attempts_totalled AFTER INSERT ON task_attempts FOR EACH ROW EXECUTE FUNCTION agentq_total_attempt()"
)
_BACKFILL_TOTALS = (
    f"INSERT INTO attempt_totals (bucket, agent, repo, outcome, {_TOTALS}, last_at) "
    f"SELECT (floor({_ENDED.format(a='a')} / {HOUR_S}) * {HOUR_S})::bigint AS hour, t.agent, coalesce(t.repo, '') AS r, "
    f"a.outcome, {', '.join('sum(' + v.format(a='a') + ')' for v in ATTEMPT_SUMS.values())}, "
    f"max({_ENDED.format(a='a')}) FROM task_attempts AS a JOIN tasks AS t ON t.id = a.task_id "
    "GROUP BY hour, t.agent, r, a.outcome"
)


_ID_COLUMNS = (  # and an attempt's duration: 2**31 ms is only 24.8 days
    ("tasks", "id"), ("task_attempts", "id"), ("task_attempts", "task_id"),
    ("task_dependencies", "task_id"), ("task_dependencies", "depends_on_id"), ("task_attempts", "duration_ms"),
)


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

    def create_attempt_totals(self, conn: Connection) -> None:
        conn.exec_driver_sql(_BACKFILL_TOTALS)
        conn.exec_driver_sql(_TOTALS_FUNCTION)
        conn.exec_driver_sql(_TOTALS_TRIGGER)

    def drop_attempt_totals(self, conn: Connection) -> None:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS attempts_totalled ON task_attempts")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS agentq_total_attempt()")

    def widen_task_ids(self, conn: Connection, *, bits: int) -> None:
        kind = {64: "bigint", 32: "integer"}[bits]
        for table, column in _ID_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}")
        for table in ("tasks", "task_attempts"):
            sequence = conn.exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
            if sequence:  # AS bigint raises the sequence's maximum with it
                conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} AS {kind}")

    def drop_running_counts(self, conn: Connection) -> None:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS tasks_counts ON tasks")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS agentq_count_tasks()")

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

    def claim(self, conn: Connection, request: ClaimRequest) -> list[Claim]:
        params: dict[str, Any] = {
            "now": request.now, "worker": request.worker, "host": request.host, "expires": request.expires,
            "secret": request.secret, "agents": request.agents, "types": request.types,
        }
        claimed: list[Claim] = []
        try:
            while len(claimed) < request.limit:
                wanted = request.limit - len(claimed)
                candidates = fetch_all(conn, _CANDIDATES, {**params, "limit": wanted + CANDIDATE_SLACK})
                if not candidates:
                    break
                agents = sorted({c["agent"] for c in candidates})
                keys = sorted({c["lock_key"] for c in candidates if c["lock_key"] is not None})
                if keys:
                    execute(conn, _MAKE_KEYS, {"keys": keys})
                agent_room = {r["name"]: r["free"] for r in fetch_all(conn, _AGENT_ROOM, {"agents": agents})}
                key_room = {r["key"]: r["free"] for r in fetch_all(conn, _KEY_ROOM, {"keys": keys})} if keys else {}
                for candidate in candidates:
                    candidate["agent_free"] = agent_room.get(candidate["agent"], 0)
                    candidate["key_free"] = key_room.get(candidate["lock_key"], 0)
                ids = admit(candidates, wanted)
                if not ids:
                    break
                claimed.extend(fetch_claims(conn, _TAKE + CLAIMED, {**params, "ids": ids}, ids))
                if len(candidates) < wanted + CANDIDATE_SLACK:
                    break
        except self._races(conn) as exc:  # a deadlock detected, or a count changed under us
            raise ClaimRace from exc
        return claimed

    def _races(self, conn: Connection) -> tuple[type[Exception], ...]:
        errors = conn.dialect.loaded_dbapi
        return (errors.IntegrityError, errors.errors.DeadlockDetected, errors.errors.SerializationFailure)

    def complete(
        self, conn: Connection, items: Sequence[Mapping[str, Any]], now: float, *, rows: bool = True
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {f: [item[f] for item in items] for f in COMPLETE_FIELDS}
        locked = fetch_all(conn, _LOCK_COMPLETING, params)
        if not locked:
            return []
        self.lock_counts(conn, (r["agent"] for r in locked), (r["lock_key"] for r in locked if r["lock_key"]))
        returning = "RETURNING tasks.*" if rows else "RETURNING tasks.id, tasks.notify_url"
        return fetch_all(conn, _COMPLETE + returning, {**params, "now": now})

    def running_rows(self, conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
        return fetch_all(conn, _RUNNING_ROWS, {"ids": list(ids)})

    def lock_counts(self, conn: Connection, agents: Iterable[str], keys: Iterable[str]) -> None:
        names, key_list = sorted(set(agents)), sorted(set(keys))
        if names:
            execute(conn, _AGENT_ROOM, {"agents": names})
        if key_list:
            execute(conn, _KEY_ROOM, {"keys": key_list})

    def save_settled(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        execute_many(conn, _SAVE_SETTLED, rows)

    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        execute_many(conn, _INSERT_ATTEMPT, rows)

    def unblock(self, conn: Connection, completed: Sequence[int]) -> int:
        if not completed or not fetch_all(conn, _LOCK_DEPENDENTS, {"done": list(completed)}):
            return 0
        return execute(conn, _UNBLOCK, {"done": list(completed)})


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
