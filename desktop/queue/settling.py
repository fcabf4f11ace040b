"""How an attempt's end changes its task, shared by the workers' settle calls and the rescuer of
expired leases: completed, retried, failed or cancelled for good, given back, or parked; what
depended on it unblocked or cancelled; its webhook queued; its attempt row written (once, now).

Completions, the hot path, are set-based in the backend (Settler.complete). The other ends are
decided here in Python from the rows the caller locked and read (one row's trouble never spoils
the others'), then written in a few statements for the whole batch (Settler.settle).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update

from desktop.errors import TaskValidationError
from desktop.queue.enqueue import NOTIFY_AGENT, Enqueuer
from desktop.queue.new_task import new_task
from desktop.queue.retry import RetryPolicy, backoff_s
from desktop.queue.rows import task_from_row
from desktop.queue.store import Store
from desktop.queue.tables import D, G, T
from desktop.queue.types import Task, TaskStatus
from desktop.queue.validation import PRIORITY_MAX

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 10_000
MAX_TRACEBACK_CHARS = 100_000
MAX_OUTPUT_TAIL_CHARS = 64 * 1024
_LEASE_CLEARED = {
    "lease_owner": None, "lease_token": None, "lease_expires_at": None, "lease_host": None, "lease_pid": None,
    "output_tail": None,
}
_WAITING_ON_OTHERS = (TaskStatus.BLOCKED.value, TaskStatus.BACKLOGGED.value)
_NO_SUMS = {"cost_usd": None, "input_tokens": None, "output_tokens": None, "cached_tokens": None}


def tail(text: str | None, limit: int) -> str | None:
    """The end of `text`, at most `limit` characters, marked with … when cut."""
    if text is None or len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):]


def failure_values(
    row: Mapping[str, Any], now: float, *, retryable: bool, jitter: float, rand: Callable[[], float]
) -> dict[str, Any]:
    """The task's new status after a failed attempt, and when it runs again or when it ended.

    Cancelled if a cancel was requested while it ran; retrying after the backoff while it has
    retries left and the error is retryable; failed otherwise. Total for every stored row:
    backoff_s caps its exponent and clamps the stored settings.
    """
    if row["cancel_requested"]:
        return {"status": TaskStatus.CANCELLED.value, "finished_at": now}
    if retryable and row["attempts"] <= row["max_retries"]:
        wait = backoff_s(row["attempts"], row["retry_base_s"], row["retry_cap_s"], jitter, rand)
        return {"status": TaskStatus.RETRYING.value, "scheduled_for": now + wait}
    return {"status": TaskStatus.FAILED.value, "finished_at": now}


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """One attempt's end other than a completion (those take Settler.complete), validated:
    `outcome` is failed, released, unstarted, parked or lost (a lease that expired); sums and
    details split."""

    outcome: str
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True
    output_tail: str | None = None
    until: float | None = None
    sums: Mapping[str, Any] = field(default_factory=lambda: _NO_SUMS)
    details_json: str | None = None


class Settler:
    """Writes the ends of attempts, in the caller's write transaction."""

    def __init__(self, store: Store, enqueuer: Enqueuer) -> None:
        self.store = store
        self.enqueuer = enqueuer

    def complete(
        self, conn: Connection, items: Sequence[Mapping[str, Any]], now: float, *, tasks: bool = True
    ) -> dict[int, Task | int]:
        """Complete tasks (see Backend.complete for `items`); returns, by id, the ones completed
        (their lease was still held): each Task, or with `tasks` False just its id. Their
        dependents that can now run are unblocked."""
        rows = self.store.backend.complete(conn, items, now, rows=tasks)
        if self.store.backend.unblock(conn, [row["id"] for row in rows]):
            self.store.notify(conn)  # something became claimable now
        done: dict[int, Task | int] = {}
        for row in rows:
            task = task_from_row(row) if tasks else None
            if row["notify_url"]:
                task = task or self.get(conn, row["id"])
                self.notify_webhook(conn, task, now)
            done[row["id"]] = task if tasks and task is not None else row["id"]
        return done

    @staticmethod
    def get(conn: Connection, task_id: int) -> Task:
        return task_from_row(conn.execute(select(T).where(T.c.id == task_id)).one()._mapping)

    def settle(self, conn: Connection, ends: Sequence[tuple[Mapping[str, Any], AttemptEnd]], now: float) -> list[Task]:
        """End the attempts of these running tasks (their rows, locked by the caller); returns
        each task as it is now, in the same order."""
        if not ends:
            return []
        policy = self.store.retry_policy  # read once: one policy for the whole batch
        rows = [row for row, _ in ends]
        self.store.backend.lock_counts(
            conn, {row["agent"] for row in rows}, {row["lock_key"] for row in rows if row["lock_key"] is not None}
        )
        saved, attempts, merged = [], [], []
        for row, end in ends:
            values, attempt = self._decide(row, end, now, policy)
            saved.append({"id": row["id"], **values})
            if end.outcome != "unstarted":  # no action ran: nothing to log
                attempts.append(attempt)
            merged.append({**row, **values, **_LEASE_CLEARED})
        self.store.backend.save_settled(conn, saved)
        self.store.backend.insert_attempts(conn, attempts)
        retried = [v["id"] for (_, end), v in zip(ends, saved, strict=True)
                   if end.outcome in ("failed", "lost") and v["status"] == TaskStatus.RETRYING.value]
        if retried:
            raised = self.escalate(conn, retried)
            merged = [{**row, "priority": raised[row["id"]]} if row["id"] in raised else row for row in merged]
        if any(end.outcome in ("released", "unstarted") for _, end in ends):
            self.store.notify(conn)  # claimable again now
        for values in saved:
            if values["status"] in (TaskStatus.FAILED.value, TaskStatus.CANCELLED.value):
                self.cancel_dependents(conn, values["id"], values["status"], now)
        tasks = [task_from_row(row) for row in merged]
        for task in tasks:
            if task.notify_url and task.status is TaskStatus.FAILED:
                self.notify_webhook(conn, task, now)
        return tasks

    @staticmethod
    def escalate(conn: Connection, retried: Sequence[int]) -> dict[int, int]:
        """Raise by one level (up to 5) the priority of the retried tasks whose agent escalates;
        their new priority by id."""
        escalating = select(G.c.name).where(G.c.escalate_priority.is_(True)).scalar_subquery()
        rows = conn.execute(
            update(T)
            .where(T.c.id.in_(retried), T.c.priority < PRIORITY_MAX, T.c.agent.in_(escalating))
            .values(priority=T.c.priority + 1)
            .returning(T.c.id, T.c.priority)
        ).all()
        return {task_id: priority for task_id, priority in rows}

    def _decide(
        self, row: Mapping[str, Any], end: AttemptEnd, now: float, policy: RetryPolicy
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The task's new column values, and its attempt's row."""
        values = {
            "status": row["status"], "attempts": row["attempts"], "scheduled_for": row["scheduled_for"],
            "finished_at": row["finished_at"], "result": row["result"], "last_error": row["last_error"],
            "progress": row["progress"],
        }
        outcome, error = end.outcome, tail(end.error, MAX_ERROR_CHARS)
        if row["cancel_requested"] and end.outcome in ("released", "unstarted", "parked"):
            values.update(status=TaskStatus.CANCELLED.value, finished_at=now, last_error="cancelled by the user")
            outcome = "cancelled"
        elif end.outcome in ("released", "unstarted"):  # given back: the attempt does not count
            values.update(status=TaskStatus.PENDING.value, attempts=row["attempts"] - 1, scheduled_for=now)
            outcome = "interrupted"
        elif end.outcome == "parked":  # stopped at a usage limit: runs again when it resets
            values.update(
                status=TaskStatus.RETRYING.value, attempts=row["attempts"] - 1, scheduled_for=end.until,
                last_error=error,
            )
        else:  # failed, or lost with its worker
            error = error or ""
            try:
                values.update(failure_values(row, now, retryable=end.retryable, jitter=policy.jitter, rand=self.store.rand))
            except Exception:  # a row no rule foresaw must not stop the others: fail it, say why
                log.exception("task %s: cannot schedule its retry; failing it", row["id"])
                values.update(status=TaskStatus.FAILED.value, finished_at=now)
                error = f"{error} (and its retry could not be scheduled: see the log)"
            values["last_error"] = error
            if values["status"] == TaskStatus.CANCELLED.value:
                outcome = "cancelled"
        started = row["started_at"] if row["started_at"] is not None else now
        attempt = {
            "task_id": row["id"],
            "worker_id": row["lease_owner"] or "",
            "started_at": started,
            "finished_at": now,
            "duration_ms": round(max(now - started, 0.0) * 1000),  # never negative, whatever the clocks
            "outcome": outcome,
            "error": error,
            "traceback": tail(end.traceback, MAX_TRACEBACK_CHARS),
            "output_tail": tail(end.output_tail if end.output_tail is not None else row["output_tail"], MAX_OUTPUT_TAIL_CHARS),
            **end.sums,
            "details": end.details_json,
            "host": row["lease_host"],
            "pid": row["lease_pid"],
        }
        return values, attempt

    def cancel_now(self, conn: Connection, task_id: int, reason: str, now: float) -> None:
        """Cancel an unfinished task that is not running, and what waits on it."""
        conn.execute(
            update(T).where(T.c.id == task_id).values(status=TaskStatus.CANCELLED.value, finished_at=now, last_error=reason)
        )
        self.cancel_dependents(conn, task_id, TaskStatus.CANCELLED.value, now)

    @staticmethod
    def cancel_dependents(conn: Connection, task_id: int, status: str, now: float) -> None:
        """Cancel, transitively, the blocked (or backlogged) tasks that wait on a task that will never complete."""
        frontier = [(task_id, status)]
        while frontier:
            cause, cause_status = frontier.pop()
            dependents = conn.execute(
                select(T.c.id)
                .join(D, D.c.task_id == T.c.id)
                .where(D.c.depends_on_id == cause, T.c.status.in_(_WAITING_ON_OTHERS))
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
            self.enqueuer.insert_in(conn, [item])
        except TaskValidationError as exc:  # its agent was removed by hand: the task still settles
            log.error("task %s: its webhook cannot be queued: %s", task.id, exc)
