"""How an attempt's end changes its task, shared by the workers' settle calls and the rescuer of
expired leases: retry or fail for good, cancel what depended on it, queue its webhook."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from desktop.errors import TaskValidationError
from desktop.queue.enqueue import NOTIFY_AGENT, Enqueuer
from desktop.queue.new_task import new_task
from desktop.queue.retry import RetryPolicy
from desktop.queue.rows import task_from_row
from desktop.queue.store import Store
from desktop.queue.tables import D, T
from desktop.queue.types import Task, TaskStatus

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 10_000
MAX_TRACEBACK_CHARS = 100_000
MAX_OUTPUT_TAIL_CHARS = 64 * 1024
LEASE_CLEARED = {"lease_owner": None, "lease_token": None, "lease_expires_at": None}


def tail(text: str | None, limit: int) -> str | None:
    """The end of `text`, at most `limit` characters, marked with … when cut."""
    if text is None or len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):]


def failure_values(row: Mapping[str, Any], now: float, *, retryable: bool, policy: RetryPolicy, rand: Any) -> dict[str, Any]:
    """The task's new status after a failed attempt, and when it runs again or when it ended.

    Cancelled if a cancel was requested while it ran; retrying after the backoff while it has
    retries left and the error is retryable; failed otherwise. Total: any row gives an answer.
    """
    if row["cancel_requested"]:
        return {"status": TaskStatus.CANCELLED.value, "finished_at": now}
    if retryable and row["attempts"] <= row["max_retries"]:
        backoff = RetryPolicy(row["max_retries"], row["retry_base_s"], row["retry_cap_s"], policy.jitter)
        return {"status": TaskStatus.RETRYING.value, "scheduled_for": now + backoff.delay_s(row["attempts"], rand)}
    return {"status": TaskStatus.FAILED.value, "finished_at": now}


class Settler:
    """Writes the end of an attempt, in the caller's write transaction."""

    def __init__(self, store: Store, enqueuer: Enqueuer) -> None:
        self.store = store
        self.enqueuer = enqueuer

    def fail(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        now: float,
        error: str,
        *,
        traceback: str | None = None,
        retryable: bool = True,
        output_tail: str | None = None,
        outcome: str = "failed",
    ) -> None:
        """Record a failed attempt of the running task `row` (which the caller has locked)."""
        error = tail(str(error), MAX_ERROR_CHARS) or ""
        try:
            values = failure_values(row, now, retryable=retryable, policy=self.store.retry_policy, rand=self.store.rand)
        except Exception:  # a row no rule foresaw must not stop the others: fail it, say why
            log.exception("task %s: cannot compute its retry; failing it", row["id"])
            values = {"status": TaskStatus.FAILED.value, "finished_at": now}
            error = f"{error} (and its retry could not be scheduled: see the log)"
        if values["status"] == TaskStatus.CANCELLED.value:
            outcome = "cancelled"
        conn.execute(update(T).where(T.c.id == row["id"]).values(last_error=error, **LEASE_CLEARED, **values))
        self.end_attempt(conn, row["id"], now, outcome, error=error, traceback=traceback, output_tail=output_tail)
        if values["status"] != TaskStatus.RETRYING.value:
            self.cancel_dependents(conn, row["id"], values["status"], now)
        if values["status"] == TaskStatus.FAILED.value and row["notify_url"]:
            self.notify_webhook(conn, self.get(conn, row["id"]), now)

    def end_attempt(
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
        self.store.backend.end_attempt(
            conn,
            {
                "task_id": task_id, "now": now, "outcome": outcome, "error": error,
                "traceback": tail(traceback, MAX_TRACEBACK_CHARS),
                "output_tail": tail(output_tail, MAX_OUTPUT_TAIL_CHARS),
            },
        )

    @staticmethod
    def get(conn: Connection, task_id: int) -> Task:
        row = conn.execute(select(T).where(T.c.id == task_id)).one()
        return task_from_row(row._mapping)

    def cancel_now(self, conn: Connection, task_id: int, reason: str, now: float) -> None:
        """Cancel an unfinished task that is not running, and what waits on it."""
        conn.execute(
            update(T).where(T.c.id == task_id).values(status=TaskStatus.CANCELLED.value, finished_at=now, last_error=reason)
        )
        self.cancel_dependents(conn, task_id, TaskStatus.CANCELLED.value, now)

    @staticmethod
    def cancel_dependents(conn: Connection, task_id: int, status: str, now: float) -> None:
        """Cancel, transitively, the blocked tasks that wait on a task that will never complete."""
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

    def notify_webhook(self, conn: Connection, task: Task, now: float) -> None:
        """Queue a webhook delivery for a task that ended for good, in the same transaction.

        Deliveries are tasks of the built-in http agent NOTIFY_AGENT (created when the task was
        enqueued), so they retry with backoff and never hold up the worker that finished the task.
        """
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
        item = new_task(
            {
                "agent": NOTIFY_AGENT, "payload": {"url": task.notify_url, "body": body}, "priority": 4,
                "task_type": "notification", "unique_key": f"notify:{task.id}:{int(now * 1000)}",
                "created_by": f"task:{task.id}",
            }
        )
        try:
            with conn.begin_nested():
                self.enqueuer.insert_in(conn, [item])
        except TaskValidationError as exc:  # its agent was removed by hand: the task still settles
            log.error("task %s: its webhook cannot be queued: %s", task.id, exc)
