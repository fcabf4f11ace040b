"""The order of waiting tasks, as a user changes it: run now, priority, top or bottom, the backlog.

Claim order is priority (5 first), then `sort_order` (lower first; 0 unless moved), then
scheduled_for, then id. Moving a task to the top of its priority gives it a sort_order below every
ready task of that priority; to the bottom, one above. "Run now" makes a task ready at once with
the highest priority, at the top: the next claim takes it, whatever else waits. A backlogged task
is kept but never claimed until it is released (it becomes pending, or blocked while its
dependencies have not completed).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select, text, update

from desktop.errors import TaskStateError
from desktop.queue import validation as check
from desktop.queue.control import locked_status
from desktop.queue.models import READY
from desktop.queue.reads import get_task
from desktop.queue.store import Store
from desktop.queue.tables import D, T
from desktop.queue.types import Task, TaskStatus

# Tasks whose place in the queue a user may change: every status that waits to be claimed.
WAITING = frozenset({TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BLOCKED, TaskStatus.BACKLOGGED})


class QueueOrder:
    """Run now, priority, move to top or bottom, backlog and release: each one write transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def run_now(self, task_id: int) -> Task:
        """Make a waiting task ready now, at priority 5 and ahead of every other ready task.

        A backlogged task is released by it; a blocked one is refused (its dependencies decide).
        """
        with self.store.write() as conn:
            status = _waiting_status(conn, task_id, "run now")
            if status is TaskStatus.BLOCKED:
                raise TaskStateError(
                    f"task {task_id} is blocked: it runs when its dependencies have completed "
                    f"(see agentq show {task_id})"
                )
            if status is TaskStatus.BACKLOGGED and _open_dependencies(conn, task_id):
                raise TaskStateError(f"task {task_id} waits for its dependencies; release it instead")
            first = conn.execute(select(func.min(T.c.sort_order)).where(text(READY))).scalar()
            conn.execute(
                update(T).where(T.c.id == task_id).values(
                    status=TaskStatus.PENDING.value, priority=check.PRIORITY_MAX,
                    scheduled_for=self.store.clock(), sort_order=min(first or 0, 0) - 1,
                )
            )
            self.store.notify(conn)
            return get_task(conn, task_id)

    def set_priority(self, task_id: int, priority: int) -> Task:
        """Change the priority of a task that waits (pending, retrying, blocked or backlogged)."""
        value = check.priority_value("priority", priority)
        with self.store.write() as conn:
            _waiting_status(conn, task_id, "change the priority of")
            conn.execute(update(T).where(T.c.id == task_id).values(priority=value))
            self.store.notify(conn)
            return get_task(conn, task_id)

    def move(self, task_id: int, *, top: bool) -> Task:
        """Put a waiting task first (`top`) or last among the ready tasks of its priority."""
        with self.store.write() as conn:
            _waiting_status(conn, task_id, "move")
            priority = conn.execute(select(T.c.priority).where(T.c.id == task_id)).scalar_one()
            bound = func.min(T.c.sort_order) if top else func.max(T.c.sort_order)
            edge = conn.execute(
                select(bound).where(text(READY), T.c.priority == priority, T.c.id != task_id)
            ).scalar()
            place = (min(edge or 0, 0) - 1) if top else (max(edge or 0, 0) + 1)
            conn.execute(update(T).where(T.c.id == task_id).values(sort_order=place))
            self.store.notify(conn)
            return get_task(conn, task_id)

    def backlog(self, task_id: int) -> Task:
        """Keep a pending, retrying or blocked task out of the queue until it is released."""
        with self.store.write() as conn:
            status = _waiting_status(conn, task_id, "backlog")
            if status is TaskStatus.BACKLOGGED:
                raise TaskStateError(f"task {task_id} is already backlogged")
            conn.execute(update(T).where(T.c.id == task_id).values(status=TaskStatus.BACKLOGGED.value))
            return get_task(conn, task_id)

    def release(self, task_id: int) -> Task:
        """Put a backlogged task back in the queue: pending, or blocked while it has dependencies
        that have not completed. Its scheduled time and backoff stay as they were."""
        with self.store.write() as conn:
            status = _waiting_status(conn, task_id, "release")
            if status is not TaskStatus.BACKLOGGED:
                raise TaskStateError(f"task {task_id} is {status}, not backlogged; there is nothing to release")
            waiting = _open_dependencies(conn, task_id)
            new = TaskStatus.BLOCKED if waiting else TaskStatus.PENDING
            conn.execute(update(T).where(T.c.id == task_id).values(status=new.value))
            self.store.notify(conn)
            return get_task(conn, task_id)


def _waiting_status(conn: Connection, task_id: int, action: str) -> TaskStatus:
    """The task's status, row-locked, if it waits to be claimed; else a TaskStateError that says why."""
    status = locked_status(conn, task_id)
    if status not in WAITING:
        hint = "; retry it instead" if status.is_finished else ""
        raise TaskStateError(f"task {task_id} is {status}: cannot {action} it{hint}")
    return status


def _open_dependencies(conn: Connection, task_id: int) -> list[int]:
    """The tasks `task_id` depends on that have not completed (share-locked)."""
    rows = conn.execute(
        select(T.c.id)
        .join(D, D.c.depends_on_id == T.c.id)
        .where(D.c.task_id == task_id, T.c.status != TaskStatus.COMPLETED.value)
        .order_by(T.c.id)
        .with_for_update(of=T, read=True)
    ).scalars().all()
    return list(rows)
