"""The storage seam: everything that differs between SQLite and PostgreSQL, behind one interface.

The queue's roles (leases, reads, maintenance...) speak SQLAlchemy Core where a statement runs
rarely and call a `Backend` where the two databases differ: opening an engine, the claim and the
hot-path writes (sent straight to the driver, in its own parameter style), inserting rows and
getting their ids back in order, waking other processes (notify/watch), time buckets for charts,
and taking turns when migrating. `backend_for` picks the implementation from a URL or an engine;
nothing outside this package looks at a dialect's name.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql.elements import ColumnElement


WRITE = "agentq_write"  # execution option: a transaction SQLAlchemy begins is a write (BEGIN IMMEDIATE)


class ClaimRace(Exception):
    """Another connection took the candidate's last agent slot or its lock key between our read
    and our write (PostgreSQL only). Roll back and claim again: the next snapshot sees it."""


class ChangeWatcher(Protocol):
    """Tells a worker that another process committed something, without polling for work."""

    def changed(self) -> bool:
        """True if the database changed since the last call (the first call says True)."""

    def close(self) -> None: ...


class Backend(abc.ABC):
    """One database's way of doing what the queue needs. Implementations hold no state of their
    own beyond constants: one instance serves every engine of its kind.

    Statements given a `Connection` run in the caller's transaction, on the driver's own
    connection (`driver(conn)`), so a claim costs what SQLite or PostgreSQL spend on it and little
    more. Rows come back as plain dicts keyed by column name.
    """

    name: str  # "sqlite" or "postgresql": the SQLAlchemy backend name it serves

    # -- engines and transactions ---------------------------------------------------------------

    @abc.abstractmethod
    def create_engine(self, url: URL, *, pool_size: int) -> Engine:
        """An engine set up for the queue (pragmas, isolation level, pool), after any check that
        the database can be used at all."""

    @abc.abstractmethod
    def begin(self, conn: Connection, *, write: bool) -> None:
        """Start the transaction of `conn` (SQLite: BEGIN IMMEDIATE for writes, so writers queue
        on the lock instead of failing); the caller commits or rolls back on the driver."""

    @abc.abstractmethod
    def storage_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        """The exception types that mean the environment failed (disk, lock, server), for the
        driver as well as for SQLAlchemy."""

    @abc.abstractmethod
    def integrity_errors(self, engine: Engine) -> tuple[type[Exception], ...]:
        """The driver's constraint-violation exception types (raw statements raise those)."""

    # -- migrations -----------------------------------------------------------------------------

    @abc.abstractmethod
    def migration_lock(self, conn: Connection) -> None:
        """Make processes migrating at the same moment take turns, until `conn` commits."""

    def alembic_options(self) -> dict[str, Any]:
        """Extra options for alembic's context.configure on this database."""
        return {}

    @abc.abstractmethod
    def create_running_counts(self, conn: Connection) -> None:
        """Create the triggers on tasks that keep agents.running and lock_keys.running equal to
        the running tasks of each agent and lock key, whoever writes the tasks (migration 0003).
        A lock key's row is made on first use; a step past its capacity fails its CHECK."""

    @abc.abstractmethod
    def drop_running_counts(self, conn: Connection) -> None:
        """Drop what create_running_counts made."""

    # -- change notification --------------------------------------------------------------------

    @abc.abstractmethod
    def notify(self, conn: Connection) -> None:
        """Tell watchers in other processes, when this transaction commits, that a task may have
        become claimable or was asked to stop."""

    @abc.abstractmethod
    def watcher(self, engine: Engine) -> ChangeWatcher:
        """A watcher that notices other processes' commits (see ChangeWatcher)."""

    # -- SQL that differs -----------------------------------------------------------------------

    @abc.abstractmethod
    def minute_bucket(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """The whole minute (epoch seconds / 60, rounded down) of a time column, for grouping."""

    @abc.abstractmethod
    def set_lock_capacity(self, conn: Connection, key: str, capacity: int) -> None:
        """Create or change a lock key's capacity; its running tasks are left alone."""

    @abc.abstractmethod
    def insert_tasks(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Insert task rows (all with the same keys); return their new ids in the order given."""

    @abc.abstractmethod
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
        """Claim the next runnable task for `worker` and open its attempt; its row, or None.

        Raises ClaimRace when a concurrent claimer won; the caller retries in a new transaction.
        """

    @abc.abstractmethod
    def complete(
        self, conn: Connection, *, task_id: int, token: str, now: float, result: str, output_tail: str | None
    ) -> tuple[dict[str, Any] | None, int]:
        """Complete a claimed task, close its attempt and unblock the dependents that can now run.

        Returns the task's row (None when `token` is not its lease: the caller must roll back) and
        the number of tasks unblocked.
        """

    @abc.abstractmethod
    def end_attempt(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Close the running attempt of params["task_id"] (outcome, error, traceback, output tail)."""


def driver(conn: Connection) -> Any:
    """The driver's own connection under `conn` (sqlite3 or psycopg)."""
    return conn.connection.dbapi_connection


def fetch_one(conn: Connection, sql: str, params: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any] | None:
    """Run `sql` on the driver in `conn`'s transaction; its first row as a dict, or None."""
    cursor = driver(conn).cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return None if row is None else dict(zip((d[0] for d in cursor.description), row))
    finally:
        cursor.close()


def fetch_all(conn: Connection, sql: str, params: Mapping[str, Any] | Sequence[Any]) -> list[dict[str, Any]]:
    """Run `sql` on the driver in `conn`'s transaction; every row as a dict."""
    cursor = driver(conn).cursor()
    try:
        cursor.execute(sql, params)
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def execute(conn: Connection, sql: str, params: Mapping[str, Any] | Sequence[Any]) -> int:
    """Run `sql` on the driver in `conn`'s transaction; the number of rows it changed."""
    cursor = driver(conn).cursor()
    try:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def execute_many(conn: Connection, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `sql` once per row of parameters, in one driver call."""
    if not rows:
        return
    cursor = driver(conn).cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def backend_for(target: str | URL | Engine | Connection) -> Backend:
    """The backend of a URL, an engine or a connection."""
    if isinstance(target, (Engine, Connection)):
        name = target.dialect.name
    else:
        name = make_url(target).get_backend_name()
    if name == "sqlite":
        from desktop.queue.backends.sqlite import SQLITE

        return SQLITE
    if name == "postgresql":
        from desktop.queue.backends.postgresql import POSTGRESQL

        return POSTGRESQL
    raise ValueError(f"database URL: Agent Queue runs on SQLite or PostgreSQL, not {name!r}")
