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
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.sql.elements import ColumnElement

from desktop.queue.rows import TASK_COLUMNS, claim_from_values
from desktop.queue.types import Claim

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
        """Create the triggers on tasks that keep task_counts (per agent, tasks in each status) and
        lock_keys.running (running tasks per key) exact, whoever writes the tasks (migration
        0003). A count row is made on first use; a step past a key's capacity fails its CHECK."""

    @abc.abstractmethod
    def drop_running_counts(self, conn: Connection) -> None:
        """Drop what create_running_counts made."""

    @abc.abstractmethod
    def create_attempt_totals(self, conn: Connection) -> None:
        """Fill attempt_totals from the attempts kept so far, and create the trigger on
        task_attempts that adds each new attempt to its hour, agent, repository and outcome in
        the same transaction (migration 0006). Nothing ever subtracts from it."""

    @abc.abstractmethod
    def drop_attempt_totals(self, conn: Connection) -> None:
        """Drop what create_attempt_totals made (the table itself is the migration's)."""

    @abc.abstractmethod
    def widen_task_ids(self, conn: Connection, *, bits: int) -> None:
        """Make task and attempt ids (and their sequences and references) hold `bits`-bit
        integers: 64 going up (migration 0003), 32 going back down."""

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
    def claim(self, conn: Connection, request: ClaimRequest) -> list[Claim]:
        """Claim up to `request.limit` runnable tasks and return them, in claim order.

        Claim order is priority (5 first), then sort_order (the manual order), then scheduled_for, then id. A task is runnable when it
        is pending or retrying and due, the queue and its agent are not paused, and claiming it
        keeps its agent within its concurrency and its lock key within its capacity, counting the
        tasks claimed in this same call. Each claimed row gets status running, a lease (owner,
        expiry, host) and a lease token unique to it.

        Raises ClaimRace when a concurrent claimer won (PostgreSQL); the caller retries in a new
        transaction.
        """

    @abc.abstractmethod
    def complete(
        self, conn: Connection, items: Sequence[Mapping[str, Any]], now: float, *, rows: bool = True
    ) -> list[dict[str, Any]]:
        """Complete the tasks of `items` (keys COMPLETE_FIELDS) whose token is still the lease
        of their running task: write their attempt rows and their new rows, a few statements
        for the whole batch (the hot path). Returns the completed tasks' rows (with `rows` False,
        only their id and notify_url); an item missing from them had lost its lease, and nothing
        was written for it. Ids must be distinct."""

    @abc.abstractmethod
    def running_rows(self, conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The rows of the tasks among `ids` that are running, locked until the transaction ends
        (so a cancel request or a recovery made meanwhile is seen, not overwritten)."""

    @abc.abstractmethod
    def lock_counts(self, conn: Connection, agents: Iterable[str], keys: Iterable[str]) -> None:
        """Lock the running counts of these agents and lock keys, in one global order, before
        tasks are written: the triggers then update rows this transaction already holds, so two
        transactions never wait on each other's counts in a circle."""

    @abc.abstractmethod
    def save_settled(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write settled tasks: for each row (keys SETTLED_COLUMNS and id) its new status, times,
        result and error, with the lease and the running attempt's fields cleared."""

    @abc.abstractmethod
    def insert_attempts(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ended attempts (keys ATTEMPT_COLUMNS), each numbered after its task's last one
        (attempts are numbered across manual retries, which reset the task's own counter)."""

    @abc.abstractmethod
    def unblock(self, conn: Connection, completed: Sequence[int]) -> int:
        """Make pending the blocked tasks whose dependencies have now all completed, `completed`
        having just completed; returns how many."""


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What a claim asks for: see Backend.claim."""

    worker: str
    host: str
    limit: int
    now: float
    expires: float
    agents: list[str] | None = None  # only these agents' tasks
    types: list[str] | None = None  # only these task types
    secret: str = field(default_factory=lambda: secrets.token_hex(16))  # the tokens' random part


STATUSES = ("pending", "blocked", "running", "retrying", "completed", "failed", "cancelled")  # task_counts' columns
# What complete takes per task: the lease, the result (JSON text), and what goes in the attempt.
COMPLETE_FIELDS = (
    "id", "token", "result", "output_tail", "cost_usd", "input_tokens", "output_tokens", "cached_tokens", "details",
)
# Columns save_settled writes (besides id), and insert_attempts fills.
SETTLED_COLUMNS = ("status", "attempts", "scheduled_for", "finished_at", "result", "last_error", "progress")
ATTEMPT_COLUMNS = (
    "task_id", "worker_id", "started_at", "finished_at", "duration_ms", "outcome", "error", "traceback",
    "output_tail", "cost_usd", "input_tokens", "output_tokens", "cached_tokens", "details", "host", "pid",
)


CLAIMED = f"RETURNING {', '.join(TASK_COLUMNS)}, lease_token"  # a claim's UPDATE, for claim_from_values

HOUR_S = 3600  # attempt_totals' bucket
# The columns attempt_totals adds up, and each one's value for one attempt row `a` (SQL).
ATTEMPT_SUMS = {
    "attempts": "1", "duration_ms": "coalesce({a}.duration_ms, 0)", "cost_usd": "coalesce({a}.cost_usd, 0)",
    "input_tokens": "coalesce({a}.input_tokens, 0)", "output_tokens": "coalesce({a}.output_tokens, 0)",
}


def admit(candidates: Iterable[Mapping[str, Any]], limit: int) -> list[int]:
    """The ids to claim among `candidates` (in claim order; each with its agent's and lock key's
    free room as `agent_free` and `key_free`), counting the ones taken before it."""
    agent_free: dict[str, int] = {}
    key_free: dict[str, int] = {}
    chosen: list[int] = []
    for row in candidates:
        agent, key = row["agent"], row["lock_key"]
        if agent_free.setdefault(agent, row["agent_free"]) <= 0:
            continue
        if key is not None and key_free.setdefault(key, row["key_free"]) <= 0:
            continue
        chosen.append(row["id"])
        agent_free[agent] -= 1
        if key is not None:
            key_free[key] -= 1
        if len(chosen) == limit:
            break
    return chosen


def driver(conn: Connection) -> Any:
    """The driver's own connection under `conn` (sqlite3 or psycopg)."""
    return conn.connection.dbapi_connection


def fetch_all(conn: Connection, sql: str, params: Mapping[str, Any] | Sequence[Any]) -> list[dict[str, Any]]:
    """Run `sql` on the driver in `conn`'s transaction; every row as a dict."""
    cursor = driver(conn).cursor()
    try:
        cursor.execute(sql, params)
        if cursor.description is None:
            return []
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        cursor.close()


def fetch_claims(conn: Connection, sql: str, params: Mapping[str, Any], ids: Sequence[int]) -> list[Claim]:
    """Run the UPDATE that claims the tasks `ids` (its RETURNING clause is CLAIMED); the claims in
    the order of `ids`. Rows stay tuples: no dict per row on the hot path."""
    cursor = driver(conn).cursor()
    try:
        cursor.execute(sql, params)
        claimed = {values[0]: values for values in cursor.fetchall()}
    finally:
        cursor.close()
    return [claim_from_values(claimed[task_id]) for task_id in ids]


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
    name = target.dialect.name if isinstance(target, (Engine, Connection)) else make_url(target).get_backend_name()
    if name == "sqlite":
        from desktop.queue.backends.sqlite import SQLITE

        return SQLITE
    if name == "postgresql":
        from desktop.queue.backends.postgresql import POSTGRESQL

        return POSTGRESQL
    raise ValueError(f"database URL: Agent Queue runs on SQLite or PostgreSQL, not {name!r}")
