"""Acting on tasks and the queue from outside a worker: cancel, retry, delete, pause and resume."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from desktop.errors import NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.reads import get_task
from desktop.queue.settling import Settler
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED as _FINISHED
from desktop.queue.tables import D, G, S, T
from desktop.queue.types import FINISHED_STATUSES, Task, TaskStatus

_UNCHANGED: Any = object()
RETRYABLE = (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.RETRYING)


@dataclass(frozen=True, slots=True)
class RetryReport:
    """What retry_matching did: the tasks retried, and why each refused one was."""

    retried: list[Task]
    refused: dict[int, str]


class Control:
    """What a user does to tasks and the queue: each call one short write transaction."""

    def __init__(self, store: Store, settler: Settler) -> None:
        self.store = store
        self.settler = settler


    def cancel(self, task_id: int) -> Task:
        """Cancel a pending, retrying or blocked task now; flag a running one for its worker to stop."""
        with self.store.write() as conn:
            status = locked_status(conn, task_id)
            if status == TaskStatus.RUNNING:
                conn.execute(update(T).where(T.c.id == task_id).values(cancel_requested=True))
                self.store.notify(conn)  # its worker, maybe on another host, stops it now
            elif status in FINISHED_STATUSES:
                raise TaskStateError(f"task {task_id} is already {status}; there is nothing to cancel")
            else:
                self.settler.cancel_now(conn, task_id, "cancelled by the user", self.store.clock())
            return get_task(conn, task_id)

    def cancel_many(self, ids: Iterable[int]) -> list[Task]:
        """Cancel every unfinished task of `ids` in one transaction; finished ones are skipped."""
        acted = []
        ids = list(dict.fromkeys(ids))
        with self.store.write() as conn:
            # Lock them all at once, in id order: two overlapping cancel_many never deadlock.
            conn.execute(select(T.c.id).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update()).all()
            for task_id in ids:
                status = locked_status(conn, task_id)
                if status in FINISHED_STATUSES:
                    continue
                if status == TaskStatus.RUNNING:
                    conn.execute(update(T).where(T.c.id == task_id).values(cancel_requested=True))
                    self.store.notify(conn)
                else:
                    self.settler.cancel_now(conn, task_id, "cancelled by the user", self.store.clock())
                acted.append(get_task(conn, task_id))
        return acted

    def retry(self, task_id: int, *, payload: Any = _UNCHANGED) -> Task:
        """Run a failed, cancelled or retrying task again now, with a fresh set of retries.

        Pass `payload` to retry with an edited payload (validated like enqueue's).
        """
        values: dict[str, Any] = {}
        if payload is not _UNCHANGED:
            values["payload"] = check.json_text("payload", payload, self.store.max_payload_bytes)
        with self.store.write() as conn:
            status = locked_status(conn, task_id)
            if status not in RETRYABLE:
                raise TaskStateError(
                    f"task {task_id} is {status}; only failed, cancelled or retrying tasks can be retried"
                )
            if payload is not _UNCHANGED:  # the kind's rules too, as enqueue checks them
                agent, repo = conn.execute(select(T.c.agent, T.c.repo).where(T.c.id == task_id)).one()
                kind = conn.execute(select(G.c.kind).where(G.c.name == agent)).scalar()
                if kind is not None:
                    self.settler.enqueuer.check_payload(kind, payload, repo)
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
                        scheduled_for=self.store.clock(),
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
            self.store.notify(conn)
            return get_task(conn, task_id)

    def retry_matching(self, status: str | Iterable[str] = "failed", agent: str | None = None) -> RetryReport:
        """Retry every task in `status` (failed, cancelled or retrying) of `agent`, or of every
        agent. Each is retried in its own transaction, as `retry` does; one that cannot be (its
        dependency failed, say) is reported and the others go on."""
        statuses = [status] if isinstance(status, str) else list(status)
        for value in statuses:
            if value not in {s.value for s in RETRYABLE}:
                raise TaskValidationError(
                    "status", f"must be failed, cancelled or retrying: only those can be retried (got {value!r})"
                )
        if agent is not None:
            check.label("agent", agent)
        with self.store.read() as conn:
            query = select(T.c.id).where(T.c.status.in_(statuses)).order_by(T.c.id)
            if agent is not None:
                query = query.where(T.c.agent == agent)
            ids = list(conn.execute(query).scalars())
        retried: list[Task] = []
        refused: dict[int, str] = {}
        for task_id in ids:
            try:
                retried.append(self.retry(task_id))
            except (NotFoundError, TaskStateError) as exc:  # changed meanwhile, or cannot run
                refused[task_id] = str(exc)
        return RetryReport(retried, refused)

    def delete_tasks(self, ids: Iterable[int]) -> int:
        """Delete finished tasks (and their action log); unfinished ones are refused as a whole."""
        ids = list(dict.fromkeys(ids))
        with self.store.write() as conn:
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
        with self.store.write() as conn:
            if not paused:
                self.store.notify(conn)
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
                update(G).where(G.c.name == agent)
                .values(paused=paused, pause_reason=None, paused_until=None, updated_at=self.store.clock())
            ).rowcount
        if not done:
            raise NotFoundError(f"agent: there is no agent named {agent!r}")

    def is_paused(self, agent: str | None = None) -> bool:
        with self.store.read() as conn:
            if agent is None:
                return conn.execute(select(S.c.value).where(S.c.key == "paused")).scalar() == "1"
            paused = conn.execute(select(G.c.paused).where(G.c.name == agent)).scalar()
        if paused is None:
            raise NotFoundError(f"agent: there is no agent named {agent!r}")
        return bool(paused)


def locked_status(conn: Connection, task_id: int) -> TaskStatus:
    """The task's status, row-locked for the write that depends on it (no claim slips in)."""
    status = conn.execute(select(T.c.status).where(T.c.id == task_id).with_for_update()).scalar()
    if status is None:
        raise NotFoundError(f"task {task_id} does not exist")
    return TaskStatus(status)
