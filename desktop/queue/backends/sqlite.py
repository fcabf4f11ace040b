"""SQLite: one file, one writer at a time, WAL, explicit BEGINs, and PRAGMA data_version to notice
other processes' commits.

pysqlite's own transaction handling emits no BEGIN before a SELECT and starts writes as deferred
transactions, which fail at once with SQLITE_BUSY_SNAPSHOT under concurrency. So the driver runs
in autocommit mode and every transaction is begun here: ``BEGIN IMMEDIATE`` for writes (it waits on
the busy timeout for the write lock) and a plain ``BEGIN`` for reads. ``synchronous=NORMAL`` in WAL
mode survives a crash of the app or the OS process; only a power cut can lose the last commits.

Every write holds the database-wide lock, so a single statement decides and writes at once: no row
locks are needed, and claims are exact without retries.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Integer, cast, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.elements import ColumnElement

from desktop.errors import DatabaseFileError
from desktop.private_files import private_database_file, private_dir
from desktop.queue.backends import (
    ATTEMPT_COLUMNS,
    ATTEMPT_SUMS,
    CLAIMED,
    COMPLETE_FIELDS,
    HOUR_S,
    SETTLED_COLUMNS,
    STATUSES,
    WRITE,
    Backend,
    ChangeWatcher,
    ClaimRequest,
    admit,
    driver,
    execute,
    execute_many,
    fetch_all,
    fetch_claims,
)
from desktop.queue.disk import disk_error
from desktop.queue.revisions import refuse_unknown
from desktop.queue.types import Claim

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING
BUSY_TIMEOUT_MS = 30_000
CANDIDATE_SLACK = 16  # candidates read beyond the limit, for those skipped as the claim fills up
FULL_CHECK_MAX_BYTES = 64 * 1024 * 1024

# The candidates for a claim, in claim order, with the room their agent and lock key have left.
# INDEXED BY: without statistics SQLite may choose ix_tasks_status_agent and sort every ready row;
# ix_tasks_ready yields rows in claim order, so the scan stops after `limit` fits. The counts are
# kept by the triggers below; lists go in as JSON text, read back with json_each.
_CANDIDATES = """
    SELECT t.id, t.agent, t.lock_key,
           (SELECT a.concurrency - coalesce(c.running, 0) FROM agents AS a LEFT JOIN task_counts AS c ON c.agent = a.name
            WHERE a.name = t.agent) AS agent_free,
           coalesce((SELECT k.capacity - k.running FROM lock_keys AS k WHERE k.key = t.lock_key), 1) AS key_free
    FROM tasks AS t INDEXED BY ix_tasks_ready
    WHERE t.status IN ('pending', 'retrying')
      AND t.scheduled_for <= :now
      AND t.agent IN (
          SELECT a.name FROM agents AS a LEFT JOIN task_counts AS c ON c.agent = a.name
          WHERE a.paused = 0 AND coalesce(c.running, 0) < a.concurrency)
      AND (:agents IS NULL OR t.agent IN (SELECT value FROM json_each(:agents)))
      AND (:types IS NULL OR t.task_type IN (SELECT value FROM json_each(:types)))
      AND NOT EXISTS (SELECT 1 FROM queue_state AS s WHERE s.key = 'paused' AND s.value = '1')
      AND (t.lock_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM lock_keys AS k WHERE k.key = t.lock_key AND k.running >= k.capacity))
    ORDER BY t.priority DESC, t.sort_order, t.scheduled_for, t.id
    LIMIT :limit
"""
# The lease token: the claim's random secret and the task's id, so unique to this claim of it.
_TAKE = """
    UPDATE tasks
    SET status = 'running', attempts = attempts + 1, started_at = :now, lease_owner = :worker,
        lease_token = :secret || id, lease_expires_at = :expires, lease_host = :host, lease_pid = NULL,
        progress = 0, progress_message = NULL, output_tail = NULL
    WHERE id IN (SELECT value FROM json_each(:ids))
"""
# Completing a batch: items go in as one JSON array of arrays (COMPLETE_FIELDS, in order). The
# attempts are written first, from the rows as they still are, then the rows themselves.
_ITEM = {name: f"json_extract(i.value, '$[{n}]')" for n, name in enumerate(COMPLETE_FIELDS)}
_COMPLETE_ATTEMPTS = f"""
    INSERT INTO task_attempts (number, {', '.join(ATTEMPT_COLUMNS)})
    SELECT (SELECT coalesce(max(a.number), 0) + 1 FROM task_attempts AS a WHERE a.task_id = t.id),
           t.id, coalesce(t.lease_owner, ''), coalesce(t.started_at, :now), :now,
           CAST(round(max(:now - coalesce(t.started_at, :now), 0) * 1000) AS INTEGER), 'completed', NULL, NULL,
           coalesce({_ITEM['output_tail']}, t.output_tail), {_ITEM['cost_usd']}, {_ITEM['input_tokens']},
           {_ITEM['output_tokens']}, {_ITEM['cached_tokens']}, {_ITEM['details']}, t.lease_host, t.lease_pid
    FROM json_each(:items) AS i JOIN tasks AS t ON t.id = {_ITEM['id']}
    WHERE t.lease_token = {_ITEM['token']} AND t.status = 'running'
"""
_COMPLETE = f"""
    UPDATE tasks
    SET status = 'completed', finished_at = :now, result = {_ITEM['result']}, progress = 100,
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, lease_host = NULL, lease_pid = NULL,
        output_tail = NULL
    FROM json_each(:items) AS i
    WHERE tasks.id = {_ITEM['id']} AND tasks.lease_token = {_ITEM['token']} AND tasks.status = 'running'
"""
_RUNNING_ROWS = "SELECT * FROM tasks WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'running'"
_SAVE_SETTLED = f"""
    UPDATE tasks
    SET {', '.join(f'{c} = :{c}' for c in SETTLED_COLUMNS)},
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, lease_host = NULL, lease_pid = NULL,
        output_tail = NULL
    WHERE id = :id
"""
_INSERT_ATTEMPT = f"""
    INSERT INTO task_attempts (number, {', '.join(ATTEMPT_COLUMNS)})
    VALUES ((SELECT coalesce(max(number), 0) + 1 FROM task_attempts WHERE task_id = :task_id),
            {', '.join(':' + c for c in ATTEMPT_COLUMNS)})
"""
# Completed tasks free the blocked tasks whose dependencies have now all completed.
_UNBLOCK = """
    UPDATE tasks SET status = 'pending'
    WHERE status = 'blocked'
      AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id IN (SELECT value FROM json_each(:done)))
      AND NOT EXISTS (
          SELECT 1 FROM task_dependencies AS d JOIN tasks AS p ON p.id = d.depends_on_id
          WHERE d.task_id = tasks.id AND p.status != 'completed')
"""


# Counts follow the tasks, whoever writes them. task_counts: per agent, how many tasks in each
# status (booleans are 0 or 1 here). lock_keys: how many running tasks hold each key; a step past
# its capacity fails its CHECK (see models.LockKeyRow), and so does the statement that made the
# task running.
_ADD = (
    f"INSERT INTO task_counts (agent, {', '.join(STATUSES)}) "
    f"VALUES (NEW.agent, {', '.join(f'NEW.status = {s!r}' for s in STATUSES)}) "
    f"ON CONFLICT (agent) DO UPDATE SET {', '.join(f'{s} = {s} + excluded.{s}' for s in STATUSES)};"
)
_SUBTRACT = f"UPDATE task_counts SET {', '.join(f'{s} = {s} - (OLD.status = {s!r})' for s in STATUSES)} WHERE agent = OLD.agent;"
_MOVE = (
    f"UPDATE task_counts SET {', '.join(f'{s} = {s} + (NEW.status = {s!r}) - (OLD.status = {s!r})' for s in STATUSES)} "
    "WHERE agent = NEW.agent;"
)
_TAKE_KEY = (
    "INSERT INTO lock_keys (key, running) VALUES (NEW.lock_key, 1) ON CONFLICT (key) DO UPDATE SET running = running + 1;"
)
_FREE_KEY = "UPDATE lock_keys SET running = running - 1, ceiling = max(capacity, running - 1) WHERE key = OLD.lock_key;"
_HOLDS_NEW = "NEW.status = 'running' AND NEW.lock_key IS NOT NULL"
_HELD_OLD = "OLD.status = 'running' AND OLD.lock_key IS NOT NULL"
_KEY_CHANGED = "(NEW.status != OLD.status OR NEW.lock_key IS NOT OLD.lock_key)"
_TRIGGERS = {
    "tasks_count_inserted": f"AFTER INSERT ON tasks BEGIN {_ADD} END",
    "tasks_count_deleted": f"AFTER DELETE ON tasks BEGIN {_SUBTRACT} END",
    "tasks_count_moved": (
        "AFTER UPDATE OF status ON tasks WHEN NEW.status != OLD.status AND NEW.agent = OLD.agent "
        f"BEGIN {_MOVE} END"
    ),
    "tasks_count_reassigned": f"AFTER UPDATE OF agent ON tasks WHEN NEW.agent != OLD.agent BEGIN {_SUBTRACT} {_ADD} END",
    "tasks_key_inserted": f"AFTER INSERT ON tasks WHEN {_HOLDS_NEW} BEGIN {_TAKE_KEY} END",
    "tasks_key_deleted": f"AFTER DELETE ON tasks WHEN {_HELD_OLD} BEGIN {_FREE_KEY} END",
    "tasks_key_freed": f"AFTER UPDATE OF status, lock_key ON tasks WHEN {_HELD_OLD} AND {_KEY_CHANGED} BEGIN {_FREE_KEY} END",
    "tasks_key_taken": f"AFTER UPDATE OF status, lock_key ON tasks WHEN {_HOLDS_NEW} AND {_KEY_CHANGED} BEGIN {_TAKE_KEY} END",
}

# The attempt ledger: each attempt row, as it is written, is added to its hour's totals (an
# upsert's SELECT needs its WHERE, which the join gives). Backfilled the same way, grouped.
_ENDED = "coalesce({a}.finished_at, {a}.started_at)"
_TOTALS = ", ".join(ATTEMPT_SUMS)
_ADD_ATTEMPT = (
    f"INSERT INTO attempt_totals (bucket, agent, repo, outcome, {_TOTALS}, last_at) "
    f"SELECT CAST({_ENDED.format(a='NEW')} / {HOUR_S} AS INTEGER) * {HOUR_S}, t.agent, coalesce(t.repo, ''), "
    f"NEW.outcome, {', '.join(v.format(a='NEW') for v in ATTEMPT_SUMS.values())}, {_ENDED.format(a='NEW')} "
    "FROM tasks AS t WHERE t.id = NEW.task_id "
    f"ON CONFLICT (bucket, agent, repo, outcome) DO UPDATE SET "
    f"{', '.join(f'{c} = {c} + excluded.{c}' for c in ATTEMPT_SUMS)}, last_at = max(last_at, excluded.last_at);"
)
_BACKFILL_TOTALS = (
    f"INSERT INTO attempt_totals (bucket, agent, repo, outcome, {_TOTALS}, last_at) "
    f"SELECT CAST({_ENDED.format(a='a')} / {HOUR_S} AS INTEGER) * {HOUR_S} AS hour, t.agent, coalesce(t.repo, '') AS r, "
    f"a.outcome, {', '.join('sum(' + v.format(a='a') + ')' for v in ATTEMPT_SUMS.values())}, "
    f"max({_ENDED.format(a='a')}) FROM task_attempts AS a JOIN tasks AS t ON t.id = a.task_id "
    "GROUP BY hour, t.agent, r, a.outcome"
)


class SqliteBackend(Backend):
    name = "sqlite"

    # -- engines and transactions ---------------------------------------------------------------

    def create_engine(self, url: URL, *, pool_size: int) -> Engine:
        path = _sqlite_path(url)
        check_sqlite_file(path)
        private_database_file(path)  # 0600, so SQLite makes its -wal and -shm files 0600 too
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=4 * pool_size,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Transactions SQLAlchemy begins (alembic, conn.begin()); the service's own are already
            # begun by `begin` below when SQLAlchemy autobegins on their first Core statement.
            dbapi_conn = driver(conn)
            if not dbapi_conn.in_transaction:
                dbapi_conn.execute("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

        return engine

    def begin(self, conn: Connection, *, write: bool) -> None:
        driver(conn).execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def storage_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        return (OperationalError, sqlite3.OperationalError)

    def integrity_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        return (IntegrityError, sqlite3.IntegrityError)

    # -- migrations -----------------------------------------------------------------------------

    def migration_lock(self, conn: Connection) -> None:
        """Nothing to do: migrations run in a BEGIN IMMEDIATE transaction, which already excludes
        every other writer."""

    def alembic_options(self) -> dict[str, Any]:
        return {"render_as_batch": True}  # SQLite alters a table by copying it

    def create_running_counts(self, conn: Connection) -> None:
        for name, body in _TRIGGERS.items():
            conn.exec_driver_sql(f"CREATE TRIGGER {name} {body}")

    def drop_running_counts(self, conn: Connection) -> None:
        for name in _TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")

    def create_attempt_totals(self, conn: Connection) -> None:
        conn.exec_driver_sql(_BACKFILL_TOTALS)
        conn.exec_driver_sql(f"CREATE TRIGGER attempts_totalled AFTER INSERT ON task_attempts BEGIN {_ADD_ATTEMPT} END")

    def drop_attempt_totals(self, conn: Connection) -> None:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS attempts_totalled")

    def widen_task_ids(self, conn: Connection, *, bits: int) -> None:
        """Nothing to do: an INTEGER PRIMARY KEY is SQLite's 64-bit rowid, and integers are
        stored in as many bytes as they need."""

    # -- change notification --------------------------------------------------------------------

    def notify(self, conn: Connection) -> None:
        """Nothing to do: a SqliteWatcher sees every commit."""

    def watcher(self, engine: Engine) -> ChangeWatcher:
        return SqliteWatcher(engine)

    # -- SQL that differs -----------------------------------------------------------------------

    def minute_bucket(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        # floor() is missing from SQLite builds without math functions; CAST truncates, which is
        # floor for these positive times.
        return cast(column / 60, Integer)

    def set_lock_capacity(self, conn: Connection, key: str, capacity: int) -> None:
        execute(
            conn,
            "INSERT INTO lock_keys (key, capacity, ceiling) VALUES (:key, :capacity, :capacity) "
            "ON CONFLICT (key) DO UPDATE SET capacity = :capacity, ceiling = max(:capacity, running)",
            {"key": key, "capacity": capacity},
        )

    def insert_tasks(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        # SQLAlchemy inserts row by row on SQLite when it must return ids in order; the driver's
        # executemany is several times faster. Under the write lock no one else inserts, and ids
        # only grow (AUTOINCREMENT), so the ids above the previous maximum are ours, in order.
        if not rows:
            return []
        cursor = driver(conn).cursor()
        try:
            before = cursor.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()[0]
            columns = list(rows[0])
            cursor.executemany(
                f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})", rows
            )
            return [r[0] for r in cursor.execute("SELECT id FROM tasks WHERE id > ? ORDER BY id", (before,))]
        finally:
            cursor.close()

    def claim(self, conn: Connection, request: ClaimRequest) -> list[Claim]:
        """Under the database-wide write lock the counts read are exact: no retries needed. A page
        of candidates yields at least one claim (its first fits), and each round's claims update
        the counts the next round filters on, so claims go on until the limit or no candidate."""
        params: dict[str, Any] = {
            "now": request.now, "worker": request.worker, "host": request.host, "expires": request.expires,
            "secret": request.secret,
            "agents": None if request.agents is None else json.dumps(request.agents),
            "types": None if request.types is None else json.dumps(request.types),
        }
        claimed: list[Claim] = []
        while len(claimed) < request.limit:
            wanted = request.limit - len(claimed)
            candidates = fetch_all(conn, _CANDIDATES, {**params, "limit": wanted + CANDIDATE_SLACK})
            ids = admit(candidates, wanted)
            if not ids:
                break
            claimed.extend(fetch_claims(conn, _TAKE + CLAIMED, {**params, "ids": json.dumps(ids)}, ids))
            if len(candidates) < wanted + CANDIDATE_SLACK:
                break  # there were no more
        return claimed

    def complete(
        self, conn: Connection, items: Sequence[Mapping[str, Any]], now: float, *, rows: bool = True
    ) -> list[dict[str, Any]]:
        params = {"now": now, "items": json.dumps([[item[f] for f in COMPLETE_FIELDS] for item in items])}
        execute(conn, _COMPLETE_ATTEMPTS, params)
        return fetch_all(conn, _COMPLETE + ("RETURNING *" if rows else "RETURNING id, notify_url"), params)

    def running_rows(self, conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
        return fetch_all(conn, _RUNNING_ROWS, {"ids": json.dumps(list(ids))})

    def lock_counts(self, conn: Connection, agents: Iterable[str], keys: Iterable[str]) -> None:
        """Nothing to do: the write lock already excludes every other writer."""

    def save_settled(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        execute_many(conn, _SAVE_SETTLED, rows)

    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        execute_many(conn, _INSERT_ATTEMPT, rows)

    def unblock(self, conn: Connection, completed: Sequence[int]) -> int:
        return execute(conn, _UNBLOCK, {"done": json.dumps(list(completed))}) if completed else 0


SQLITE = SqliteBackend()


class SqliteWatcher:
    """``PRAGMA data_version`` on one long-lived connection changes whenever any other connection
    commits: a cheap read with no lock, so a worker can look every few tens of milliseconds and
    claim only when something happened."""

    def __init__(self, engine: Engine) -> None:
        self._conn: Any = engine.raw_connection()
        self._version: int | None = None

    def changed(self) -> bool:
        version = self._conn.cursor().execute("PRAGMA data_version").fetchone()[0]
        changed, self._version = version != self._version, version
        return bool(changed)

    def close(self) -> None:
        self._conn.close()


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise DatabaseFileError(
            "The queue needs a database file shared by its workers; an in-memory SQLite database "
            "cannot be shared. Use a URL such as sqlite:///path/to/queue.db."
        )
    return Path(database).expanduser().resolve()


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that SQLite cannot use, before anything writes to it.

    Raises DatabaseFileError naming the file for: an old SQLite library, a folder that cannot be
    written, a read-only file, a file that is not a database or is corrupt, and a SQLite database
    that belongs to another program. The file is left exactly as it was.

    `PRAGMA quick_check` reads the whole file, so it runs on files up to FULL_CHECK_MAX_BYTES
    (0.3 s at 184 MB when cached, 2.7 s from a cold disk). Larger files get the header and schema
    checked here; damage deeper inside surfaces, with the same clear message, when a query first
    reads the broken page.
    """
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise DatabaseFileError(
            f"SQLite {sqlite3.sqlite_version} is too old: Agent Queue needs 3.35 or newer "
            "(for UPDATE ... RETURNING). Install a newer Python or SQLite library."
        )
    folder = path.parent
    if not folder.exists():
        private_dir(folder)
    if not os.access(folder, os.W_OK):
        raise DatabaseFileError(
            f"Cannot write to the folder {folder}, which holds the database {path.name}. "
            "Choose a database location you can write to."
        )
    if not path.exists() or path.stat().st_size == 0:
        return
    if not os.access(path, os.W_OK):
        raise DatabaseFileError(
            f"The database file {path} is read-only. Make it writable, or open another database."
        )
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            full = path.stat().st_size <= FULL_CHECK_MAX_BYTES
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")] if full else ["ok"]
            # Reading the schema checks the header and the schema pages, whatever the size.
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            stored = [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")] if (
                "alembic_version" in tables) else []
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        disk = disk_error(exc, str(path), folder)
        if disk is not None:
            raise disk from exc
        raise DatabaseFileError(
            f"The file {path} is not a usable Agent Queue database ({exc}). It was left untouched; "
            "move it aside or restore a backup, then start again to create a new one."
        ) from exc
    if problems != ["ok"]:
        raise DatabaseFileError(
            f"The database {path} is corrupt ({problems[0]}). It was left untouched; restore a "
            "backup, or move it aside to start with an empty queue."
        )
    if tables and "alembic_version" not in tables:
        raise DatabaseFileError(
            f"The file {path} is a SQLite database of another program (it has the tables "
            f"{', '.join(sorted(tables)[:5])}). It was left untouched; choose another file."
        )
    refuse_unknown(stored, str(path))
