"""TaskQueueService: the durable task queue every part of Agent Queue stands on.

Every operation is one short transaction. On SQLite, writes begin with BEGIN IMMEDIATE, so
concurrent claimers in threads and processes queue up on the write lock instead of failing; the
database's partial unique indexes make "one running task per lock key" and "one unfinished task per
unique key" hold even if a caller bypasses the service.

On PostgreSQL (READ COMMITTED) writers run side by side, so a write that decides from what it
read locks the rows it read: `with_for_update()` (SQLAlchemy leaves it out on SQLite, where the
write lock already serialises). Claiming and completing, the hot paths, are the backend's
(desktop/queue/backends).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, OperationalError

from desktop.errors import (
    LeaseLostError,
    NotFoundError,
    TaskStateError,
    TaskValidationError,
)
from desktop.queue import validation as check
from desktop.queue.agent_ops import AgentOps
from desktop.queue.backends import ChangeWatcher, ClaimRace, backend_for, driver
from desktop.queue.db import (
    create_queue_engine,
    display_url,
    storage_error,
    upgrade,
)
from desktop.queue.events import Signal
from desktop.queue.reading import ReadOps
from desktop.queue.retry import RetryPolicy
from desktop.queue.rows import (
    task_from_row,
)
from desktop.queue.schedules import ScheduleOps
from desktop.queue.tables import FINISHED as _FINISHED
from desktop.queue.tables import A, D, G, S, T
from desktop.queue.types import (
    FINISHED_STATUSES,
    Task,
    TaskStatus,
)

log = logging.getLogger(__name__)


DEFAULT_LEASE_S = 60.0
MAX_ERROR_CHARS = 10_000
MAX_TRACEBACK_CHARS = 100_000
MAX_OUTPUT_TAIL_CHARS = 64 * 1024
NOTIFY_AGENT = "agentq-notify"  # the http agent that delivers completion webhooks
CLAIM_ATTEMPTS = 20  # claims lost to a concurrent claimer before dequeue gives up until the next poll
_UNCHANGED: Any = object()
_LEASE_CLEARED = {"lease_owner": None, "lease_token": None, "lease_expires_at": None}

AgentValidator = Callable[[str, dict[str, Any]], None]


def _tail(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):]


class TaskQueueService(AgentOps, ReadOps, ScheduleOps):
    """The queue's API: agents, tasks, claiming with leases, retries, locks and statistics.

    Thread-safe: each call checks a connection out of the engine's pool for its own transaction.
    Values returned are frozen dataclasses, safe to hand to other threads.

    Signals:
        enqueued: sent with the list of new tasks after they are committed, so an in-process
            worker pool can claim them at once instead of waiting for its next poll.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        retry_policy: RetryPolicy = RetryPolicy(),
        max_payload_bytes: int = check.MAX_PAYLOAD_BYTES,
        validate_agent: AgentValidator | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.backend = backend_for(engine)
        # Hot paths talk to the driver directly, so its own errors are translated as well.
        self._storage_errors = self.backend.storage_errors(engine)
        self.clock = clock
        self.retry_policy = retry_policy
        self.max_payload_bytes = max_payload_bytes
        self.validate_agent = validate_agent
        self._rand = rand
        self.enqueued: Signal[list[Task]] = Signal()

    @classmethod
    def open(cls, url: str | URL, **options: Any) -> TaskQueueService:
        """Open (creating or migrating) the queue database at `url`, e.g. ``sqlite:///queue.db``
        or ``postgresql+psycopg://user:password@host/dbname``."""
        engine = create_queue_engine(url)
        try:
            upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            _raise_storage_error(exc, display_url(engine.url))
        return cls(engine, **options)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return display_url(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> TaskQueueService:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        """A transaction begun and ended on the driver: SQLAlchemy's own begin and commit cost
        more than a short claim does. Core statements run in it as usual."""
        try:
            with self.engine.connect() as conn:
                dbapi_conn = driver(conn)
                self.backend.begin(conn, write=write)
                try:
                    yield conn
                except BaseException:
                    dbapi_conn.rollback()
                    raise
                dbapi_conn.commit()
        except self._storage_errors as exc:
            _raise_storage_error(exc, self.url)

    def watcher(self) -> ChangeWatcher:
        """Something that tells, cheaply, whether another process changed the queue."""
        return self.backend.watcher(self.engine)

    # -- enqueue --------------------------------------------------------------------------------

    def enqueue(
        self,
        agent: str,
        payload: Any = None,
        *,
        priority: int = 3,
        scheduled_for: datetime | str | None = None,
        max_retries: int | None = None,
        lock_key: str | None = None,
        unique_key: str | None = None,
        depends_on: Iterable[int] = (),
        task_type: str | None = None,
        timeout_s: float | None = None,
        retry_base_s: float | None = None,
        retry_cap_s: float | None = None,
        created_by: str | None = None,
        notify_url: str | None = None,
    ) -> Task:
        """Add a task. Settings left as None come from the agent, then from the retry policy.

        If `unique_key` matches an unfinished task, that task is returned and nothing is written.
        """
        item = check.new_task(
            agent, payload, priority=priority, scheduled_for=scheduled_for,
            max_retries=max_retries, lock_key=lock_key, unique_key=unique_key,
            depends_on=depends_on, task_type=task_type, timeout_s=timeout_s,
            retry_base_s=retry_base_s, retry_cap_s=retry_cap_s, created_by=created_by,
            notify_url=notify_url, max_payload_bytes=self.max_payload_bytes,
        )
        return self._insert([item], batch=False)[0]

    def enqueue_many(self, items: Iterable[Mapping[str, Any]]) -> list[Task]:
        """Add many tasks in one transaction: all are validated first, then all or none are written."""
        return self._insert(check.new_tasks(items, self.max_payload_bytes), batch=True)

    def _insert(self, items: Sequence[check.NewTask], *, batch: bool) -> list[Task]:
        if not items:
            return []
        try:
            with self._write() as conn:
                tasks, inserted = self._insert_in(conn, items, batch=batch)
        except IntegrityError:
            # On PostgreSQL another connection committed the same unique key (or deleted a
            # dependency) after we looked: look again, and return its task as SQLite would.
            with self._write() as conn:
                tasks, inserted = self._insert_in(conn, items, batch=batch)
        if inserted:
            self.enqueued.send(inserted)
        return tasks

    def _insert_in(
        self, conn: Connection, items: Sequence[check.NewTask], *, batch: bool = False
    ) -> tuple[list[Task], list[Task]]:
        """Insert validated tasks in the caller's write transaction (see enqueue for the rules).

        Returns the task for each item (an existing one for a known unique key) and the new ones.
        With `batch`, errors name the item (``items[3].agent``), as enqueue_many's validation does.
        """
        now = self.clock()
        policy = self.retry_policy
        agents = {
            r.name: r
            for r in conn.execute(
                select(
                    G.c.name, G.c.timeout_s, G.c.max_retries, G.c.retry_base_s, G.c.retry_cap_s, G.c.notify_url
                )
                .where(G.c.name.in_({i.agent for i in items}))
                .with_for_update(read=True, key_share=True)  # remove_agent waits for us
            )
        }
        dep_status = self._dependency_statuses(conn, {d for i in items for d in i.depends_on})
        existing = self._unfinished_by_unique_key(conn, {i.unique_key for i in items if i.unique_key})
        results: list[Task | int] = []  # a Task that already existed, or an index into rows
        rows: list[dict[str, Any]] = []
        pending_unique: dict[str, int] = {}
        for index, item in enumerate(items):
            prefix = f"items[{index}]." if batch else ""
            agent = agents.get(item.agent)
            if agent is None:
                raise TaskValidationError(prefix + "agent", f"there is no agent named {item.agent!r}")
            if item.unique_key in existing:
                results.append(existing[item.unique_key])
                continue
            if item.unique_key in pending_unique:
                results.append(pending_unique[item.unique_key])
                continue
            status = self._initial_status(prefix, item.depends_on, dep_status)
            if item.unique_key:
                pending_unique[item.unique_key] = len(rows)
            results.append(len(rows))
            rows.append(
                {
                    "agent": item.agent,
                    "task_type": item.task_type,
                    "payload": item.payload_json,
                    "priority": item.priority,
                    "status": status,
                    "scheduled_for": item.scheduled_for if item.scheduled_for is not None else now,
                    "created_at": now,
                    "attempts": 0,
                    "max_retries": _first(item.max_retries, agent.max_retries, policy.max_retries),
                    "retry_base_s": _first(item.retry_base_s, agent.retry_base_s, policy.base_s),
                    "retry_cap_s": _first(item.retry_cap_s, agent.retry_cap_s, policy.cap_s),
                    "lock_key": item.lock_key,
                    "unique_key": item.unique_key,
                    "timeout_s": _first(item.timeout_s, agent.timeout_s),
                    "progress": 0,
                    "cancel_requested": False,
                    "created_by": item.created_by,
                    "notify_url": _first(item.notify_url, agent.notify_url),
                }
            )
        inserted = self._insert_rows(conn, rows)
        deps = [
            {"task_id": inserted[results[i]].id, "depends_on_id": d}  # type: ignore[index]
            for i, item in enumerate(items)
            if isinstance(results[i], int)
            for d in item.depends_on
        ]
        if deps:
            conn.execute(insert(D), deps)
        if inserted:
            self.backend.notify(conn)
        return [inserted[e] if isinstance(e, int) else e for e in results], inserted

    def _insert_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> list[Task]:
        ids = self.backend.insert_tasks(conn, rows)
        defaults = {c.name: None for c in T.c}
        return [task_from_row({**defaults, **row, "id": task_id}) for row, task_id in zip(rows, ids)]

    @staticmethod
    def _dependency_statuses(conn: Connection, ids: set[int]) -> dict[int, str]:
        """Statuses of the tasks `ids`, share-locked: a dependency that fails for good meanwhile
        waits for this transaction, then cancels the new dependents it can now see."""
        if not ids:
            return {}
        return dict(
            conn.execute(
                select(T.c.id, T.c.status).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update(read=True)
            ).all()
        )

    @staticmethod
    def _unfinished_by_unique_key(conn: Connection, keys: set[str | None]) -> dict[str, Task]:
        if not keys:
            return {}
        rows = conn.execute(select(T).where(T.c.unique_key.in_(keys), T.c.status.not_in(_FINISHED)))
        return {r.unique_key: task_from_row(r._mapping) for r in rows}

    @staticmethod
    def _initial_status(prefix: str, depends_on: tuple[int, ...], statuses: dict[int, str]) -> str:
        waiting = False
        for dep in depends_on:
            status = statuses.get(dep)
            if status is None:
                raise TaskValidationError(prefix + "depends_on", f"task {dep} does not exist")
            if status in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
                raise TaskValidationError(
                    prefix + "depends_on", f"task {dep} is {status}, so this task could never run"
                )
            waiting = waiting or status != TaskStatus.COMPLETED.value
        return TaskStatus.BLOCKED.value if waiting else TaskStatus.PENDING.value

    # -- claiming and finishing -----------------------------------------------------------------

    def dequeue(
        self,
        worker_id: str,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Task | None:
        """Claim the next runnable task for `worker_id`, or return None.

        Order: priority (5 first), then scheduled_for, then id. Skipped: tasks scheduled for the
        future, blocked ones, a paused queue or agent, agents at their concurrency limit, and
        tasks whose lock key is held by a running task. The claim is one UPDATE ... RETURNING in
        a write transaction (on PostgreSQL, after a locked pick: see backends/postgresql.py), so no two
        claimers ever get the same task.
        """
        now = self.clock()
        agents = None if agents is None else list(agents)
        task_types = None if task_types is None else list(task_types)
        for _ in range(CLAIM_ATTEMPTS):
            try:
                with self._write() as conn:
                    row = self.backend.claim(
                        conn, now=now, worker=worker_id, token=secrets.token_hex(16), expires=now + lease_s,
                        agents=agents, types=task_types,
                    )
                return None if row is None else task_from_row(row)
            except ClaimRace:
                continue
        return None

    def heartbeat(
        self,
        task_id: int,
        lease_token: str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        progress: int | None = None,
        message: str | None = None,
        output_tail: str | None = None,
    ) -> bool:
        """Renew the lease and record progress. Returns True if a cancel was requested.

        Raises LeaseLostError when `lease_token` is no longer the task's lease.
        """
        values: dict[str, Any] = {"lease_expires_at": self.clock() + lease_s}
        if progress is not None:
            values["progress"] = max(0, min(100, int(progress)))
        if message is not None:
            values["progress_message"] = message[:500]
        with self._write() as conn:
            row = conn.execute(
                update(T)
                .where(T.c.id == task_id, T.c.lease_token == lease_token, T.c.status == TaskStatus.RUNNING.value)
                .values(values)
                .returning(T.c.cancel_requested)
            ).first()
            if row is None:
                raise LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")
            if output_tail is not None:
                conn.execute(
                    update(A)
                    .where(A.c.task_id == task_id, A.c.outcome == "running")
                    .values(output_tail=_tail(output_tail, MAX_OUTPUT_TAIL_CHARS))
                )
        return bool(row.cancel_requested)

    def complete(
        self, task_id: int, lease_token: str, result: Any = None, *, output_tail: str | None = None
    ) -> Task:
        """Mark a claimed task completed and release dependents whose dependencies are all done."""
        result_json = check.json_text("result", result, self.max_payload_bytes)
        now = self.clock()
        with self._write() as conn:
            row, unblocked = self.backend.complete(
                conn, task_id=task_id, token=lease_token, now=now, result=result_json,
                output_tail=_tail(output_tail, MAX_OUTPUT_TAIL_CHARS),
            )
            if row is None:
                raise LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")
            if unblocked:
                self.backend.notify(conn)
            task = task_from_row(row)
            if task.notify_url:
                self._notify(conn, task)
        return task

    def fail(
        self,
        task_id: int,
        lease_token: str,
        error: str,
        *,
        traceback: str | None = None,
        retryable: bool = True,
        output_tail: str | None = None,
    ) -> Task:
        """Record a failed attempt: retry after a backoff, or fail for good.

        The task fails for good when `retryable` is False or its retries are used up; it becomes
        cancelled instead if a cancel was requested while it ran. Dependents of a task that fails
        for good are cancelled.
        """
        now = self.clock()
        with self._write() as conn:
            row = conn.execute(
                select(T)
                .where(T.c.id == task_id, T.c.lease_token == lease_token, T.c.status == TaskStatus.RUNNING.value)
                .with_for_update()  # a cancel request made meanwhile is seen, not overwritten
            ).first()
            if row is None:
                raise LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")
            self._settle_failure(conn, row, now, error, traceback, retryable, output_tail, "failed")
            return self._get(conn, task_id)

    def _settle_failure(
        self,
        conn: Connection,
        row: Any,
        now: float,
        error: str,
        traceback: str | None,
        retryable: bool,
        output_tail: str | None,
        outcome: str,
    ) -> None:
        error = _tail(str(error), MAX_ERROR_CHARS) or ""
        values: dict[str, Any] = {"last_error": error, **_LEASE_CLEARED}
        if row.cancel_requested:
            values.update(status=TaskStatus.CANCELLED.value, finished_at=now)
            outcome = "cancelled"
        elif retryable and row.attempts <= row.max_retries:
            policy = RetryPolicy(row.max_retries, row.retry_base_s, row.retry_cap_s, self.retry_policy.jitter)
            values.update(
                status=TaskStatus.RETRYING.value,
                scheduled_for=now + policy.delay_s(row.attempts, self._rand),
            )
        else:
            values.update(status=TaskStatus.FAILED.value, finished_at=now)
        conn.execute(update(T).where(T.c.id == row.id).values(values))
        self._end_attempt(
            conn, row.id, now, outcome, error=error, traceback=traceback, output_tail=output_tail
        )
        if values["status"] != TaskStatus.RETRYING.value:
            self._cancel_dependents(conn, row.id, values["status"])
        if values["status"] == TaskStatus.FAILED.value and row.notify_url:
            self._notify(conn, self._get(conn, row.id))

    def _end_attempt(
        self,
        conn: Connection,
        task_id: int,
        now: float,
        outcome: str,
        *,
        error: str | None = None,
        traceback: str | None = None,
        output_tail: str | None = None,
    ) -> None:
        self.backend.end_attempt(
            conn,
            {
                "task_id": task_id,
                "now": now,
                "outcome": outcome,
                "error": error,
                "traceback": _tail(traceback, MAX_TRACEBACK_CHARS),
                "output_tail": _tail(output_tail, MAX_OUTPUT_TAIL_CHARS),
            },
        )

    def cancel_requests(self, worker_id: str) -> list[int]:
        """Ids of `worker_id`'s running tasks that were asked to cancel (a cheap indexed read)."""
        with self._read() as conn:
            return list(
                conn.execute(
                    select(T.c.id).where(
                        T.c.status == TaskStatus.RUNNING.value,
                        T.c.lease_owner == worker_id,
                        T.c.cancel_requested.is_(True),
                    )
                ).scalars()
            )

    def release(self, task_id: int, lease_token: str, reason: str = "worker shut down") -> Task:
        """Give a claimed task back without counting the attempt (used on graceful shutdown).

        The task becomes pending again at once; its attempt is logged as ``interrupted``.
        """
        now = self.clock()
        with self._write() as conn:
            done = conn.execute(
                update(T)
                .where(T.c.id == task_id, T.c.lease_token == lease_token, T.c.status == TaskStatus.RUNNING.value)
                .values(
                    status=TaskStatus.PENDING.value,
                    attempts=T.c.attempts - 1,
                    scheduled_for=now,
                    **_LEASE_CLEARED,
                )
            ).rowcount
            if not done:
                raise LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")
            self._end_attempt(conn, task_id, now, "interrupted", error=reason)
            self.backend.notify(conn)
            return self._get(conn, task_id)

    def _notify(self, conn: Connection, task: Task) -> None:
        """Queue a webhook delivery for a task that ended for good, in the same transaction.

        Deliveries are tasks of the built-in http agent NOTIFY_AGENT, so they retry with backoff
        and never hold up the worker that finished the task.
        """
        now = self.clock()
        if conn.execute(select(G.c.id).where(G.c.name == NOTIFY_AGENT)).first() is None:
            config = {"url": "{url}", "method": "POST", "body_key": "body", "timeout_s": 10}
            try:
                with conn.begin_nested():  # another worker may create it at the same moment
                    conn.execute(
                        insert(G).values(
                            name=NOTIFY_AGENT, kind="http", config=check.agent_config(config), concurrency=4,
                            max_retries=8, retry_base_s=10.0, retry_cap_s=600.0, created_at=now, updated_at=now,
                        )
                    )
            except IntegrityError:
                pass
        started = task.started_at.timestamp() if task.started_at else now
        body = {
            "task_id": task.id,
            "agent": task.agent,
            "status": task.status.value,
            "result": task.result,
            "error": task.last_error if task.status is TaskStatus.FAILED else None,
            "attempts": task.attempts,
            "duration_s": round(now - started, 3),
        }
        item = check.new_task(
            NOTIFY_AGENT, {"url": task.notify_url, "body": body}, priority=4,
            task_type="notification", unique_key=f"notify:{task.id}:{int(now * 1000)}",
            created_by=f"task:{task.id}",
        )
        self._insert_in(conn, [item])

    def recover_expired_leases(self) -> list[int]:
        """Put back tasks whose lease expired (their worker died or hung); returns their ids.

        Each counts as a failed attempt: it is retried after the backoff, or fails for good when
        its retries are used up. Live leases are never touched.
        """
        now = self.clock()
        with self._write() as conn:
            rows = conn.execute(
                select(T)
                .where(T.c.status == TaskStatus.RUNNING.value, T.c.lease_expires_at < now)
                .order_by(T.c.id)
                .with_for_update(skip_locked=True)  # being finished, or recovered by another worker
            ).all()
            for row in rows:
                log.warning("task %s: lease of worker %s expired; putting it back", row.id, row.lease_owner)
                error = f"lease expired: worker {row.lease_owner} stopped renewing it (crashed or hung)"
                self._settle_failure(conn, row, now, error, None, True, None, "lost")
        return [row.id for row in rows]

    # -- cancel, retry, pause -------------------------------------------------------------------

    @staticmethod
    def _status(conn: Connection, task_id: int) -> TaskStatus:
        """The task's status, row-locked for the write that depends on it (no claim slips in)."""
        status = conn.execute(select(T.c.status).where(T.c.id == task_id).with_for_update()).scalar()
        if status is None:
            raise NotFoundError(f"task {task_id} does not exist")
        return TaskStatus(status)

    def cancel(self, task_id: int) -> Task:
        """Cancel a pending, retrying or blocked task now; flag a running one for its worker to stop."""
        with self._write() as conn:
            status = self._status(conn, task_id)
            if status == TaskStatus.RUNNING:
                conn.execute(update(T).where(T.c.id == task_id).values(cancel_requested=True))
                self.backend.notify(conn)  # its worker, maybe on another host, stops it now
            elif status in FINISHED_STATUSES:
                raise TaskStateError(f"task {task_id} is already {status}; there is nothing to cancel")
            else:
                self._cancel_now(conn, task_id, "cancelled by the user")
            return self._get(conn, task_id)

    def cancel_many(self, ids: Iterable[int]) -> list[Task]:
        """Cancel every unfinished task of `ids` in one transaction; finished ones are skipped."""
        acted = []
        ids = list(dict.fromkeys(ids))
        with self._write() as conn:
            # Lock them all at once, in id order: two overlapping cancel_many never deadlock.
            conn.execute(select(T.c.id).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update()).all()
            for task_id in ids:
                status = self._status(conn, task_id)
                if status in FINISHED_STATUSES:
                    continue
                if status == TaskStatus.RUNNING:
                    conn.execute(update(T).where(T.c.id == task_id).values(cancel_requested=True))
                    self.backend.notify(conn)
                else:
                    self._cancel_now(conn, task_id, "cancelled by the user")
                acted.append(self._get(conn, task_id))
        return acted

    def _cancel_now(self, conn: Connection, task_id: int, reason: str) -> None:
        conn.execute(
            update(T)
            .where(T.c.id == task_id)
            .values(status=TaskStatus.CANCELLED.value, finished_at=self.clock(), last_error=reason)
        )
        self._cancel_dependents(conn, task_id, TaskStatus.CANCELLED.value)

    def _cancel_dependents(self, conn: Connection, task_id: int, status: str) -> None:
        """Cancel, transitively, the blocked tasks that wait on a task that will never complete."""
        now = self.clock()
        frontier = [(task_id, status)]
        while frontier:
            cause, cause_status = frontier.pop()
            dependents = conn.execute(
                select(T.c.id)
                .join(D, D.c.task_id == T.c.id)
                .where(D.c.depends_on_id == cause, T.c.status == TaskStatus.BLOCKED.value)
            ).scalars().all()
            for dep_id in dependents:
                conn.execute(
                    update(T)
                    .where(T.c.id == dep_id)
                    .values(
                        status=TaskStatus.CANCELLED.value,
                        finished_at=now,
                        last_error=f"cancelled because task {cause}, which it depends on, was {cause_status}",
                    )
                )
                frontier.append((dep_id, TaskStatus.CANCELLED.value))

    def retry(self, task_id: int, *, payload: Any = _UNCHANGED) -> Task:
        """Run a failed, cancelled or retrying task again now, with a fresh set of retries.

        Pass `payload` to retry with an edited payload (validated like enqueue's).
        """
        values: dict[str, Any] = {}
        if payload is not _UNCHANGED:
            values["payload"] = check.json_text("payload", payload, self.max_payload_bytes)
        with self._write() as conn:
            status = self._status(conn, task_id)
            if status not in (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.RETRYING):
                raise TaskStateError(
                    f"task {task_id} is {status}; only failed, cancelled or retrying tasks can be retried"
                )
            deps = conn.execute(
                select(T.c.id, T.c.status)
                .join(D, D.c.depends_on_id == T.c.id)
                .where(D.c.task_id == task_id)
                .order_by(T.c.id)
                .with_for_update(of=T, read=True)
            ).all()
            for dep_id, dep_status in deps:
                if dep_status in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
                    raise TaskStateError(
                        f"task {task_id} depends on task {dep_id}, which is {dep_status}; retry that first"
                    )
            waiting = any(s != TaskStatus.COMPLETED.value for _, s in deps)
            try:
                conn.execute(
                    update(T)
                    .where(T.c.id == task_id)
                    .values(
                        status=(TaskStatus.BLOCKED if waiting else TaskStatus.PENDING).value,
                        scheduled_for=self.clock(),
                        attempts=0,
                        finished_at=None,
                        cancel_requested=False,
                        progress=0,
                        progress_message=None,
                        **values,
                    )
                )
            except IntegrityError as exc:
                raise TaskStateError(
                    f"task {task_id}: another unfinished task has the same unique key"
                ) from exc
            self.backend.notify(conn)
            return self._get(conn, task_id)

    def delete_tasks(self, ids: Iterable[int]) -> int:
        """Delete finished tasks (and their action log); unfinished ones are refused as a whole."""
        ids = list(dict.fromkeys(ids))
        with self._write() as conn:
            statuses = dict(
                conn.execute(
                    select(T.c.id, T.c.status).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update()
                ).all()
            )
            missing = [i for i in ids if i not in statuses]
            if missing:
                raise NotFoundError(f"task {missing[0]} does not exist")
            busy = [i for i in ids if statuses[i] not in _FINISHED]
            if busy:
                raise TaskStateError(
                    f"task {busy[0]} is {statuses[busy[0]]}; cancel it before deleting it"
                )
            return conn.execute(delete(T).where(T.c.id.in_(ids))).rowcount

    def pause(self, agent: str | None = None) -> None:
        """Stop new claims for the whole queue, or for one agent. Running tasks go on."""
        self._set_paused(agent, True)

    def resume(self, agent: str | None = None) -> None:
        self._set_paused(agent, False)

    def _set_paused(self, agent: str | None, paused: bool) -> None:
        with self._write() as conn:
            if not paused:
                self.backend.notify(conn)
            if agent is None:
                value = "1" if paused else "0"
                if not conn.execute(update(S).where(S.c.key == "paused").values(value=value)).rowcount:
                    try:
                        with conn.begin_nested():  # the first pause ever, maybe from two places
                            conn.execute(insert(S).values(key="paused", value=value))
                    except IntegrityError:
                        conn.execute(update(S).where(S.c.key == "paused").values(value=value))
                return
            done = conn.execute(
                update(G).where(G.c.name == agent).values(paused=paused, updated_at=self.clock())
            ).rowcount
        if not done:
            raise NotFoundError(f"agent: there is no agent named {agent!r}")

    def is_paused(self, agent: str | None = None) -> bool:
        with self._read() as conn:
            if agent is None:
                return conn.execute(select(S.c.value).where(S.c.key == "paused")).scalar() == "1"
            paused = conn.execute(select(G.c.paused).where(G.c.name == agent)).scalar()
        if paused is None:
            raise NotFoundError(f"agent: there is no agent named {agent!r}")
        return bool(paused)

    # -- retention ------------------------------------------------------------------------------

    def cleanup(self, older_than: timedelta | float, *, batch: int = 5_000) -> int:
        """Delete finished tasks (and their attempts) that finished more than `older_than` ago.

        Deletes in batches, each its own short transaction, so workers are never held up for
        long. Returns how many tasks were deleted.
        """
        seconds = check.non_negative_seconds("older_than", older_than)
        cutoff = self.clock() - (seconds or 0.0)
        deleted = 0
        while True:
            with self._write() as conn:
                ids = conn.execute(
                    select(T.c.id)
                    .where(T.c.finished_at < cutoff, T.c.status.in_(_FINISHED))
                    .limit(batch)
                ).scalars().all()
                if not ids:
                    return deleted
                # The status again: one may have been retried since the select.
                deleted += conn.execute(delete(T).where(T.c.id.in_(ids), T.c.status.in_(_FINISHED))).rowcount


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)



def _raise_storage_error(exc: Exception, where: str) -> NoReturn:
    """Raise environment errors as messages a user can act on; re-raise the rest."""
    error = storage_error(exc, where)
    if error is None:
        raise exc
    raise error from exc
