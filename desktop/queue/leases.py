"""Claiming tasks under a lease, renewing it, and settling the attempt: what workers call.

Every call after the claim carries the claim's token (a fencing token): once the lease has passed
to another worker (it expired and the task was recovered), the old holder's calls are refused with
LeaseLostError and change nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from desktop.errors import LeaseLostError
from desktop.queue import validation as check
from desktop.queue.backends import ClaimRace
from desktop.queue.rows import claim_from_row, task_from_row
from desktop.queue.settling import LEASE_CLEARED, MAX_OUTPUT_TAIL_CHARS, Settler, tail
from desktop.queue.store import Store
from desktop.queue.tables import A, T
from desktop.queue.types import Claim, Task, TaskStatus

DEFAULT_LEASE_S = 60.0
CLAIM_ATTEMPTS = 20  # claims lost to a concurrent claimer before dequeue gives up until the next poll


def _lost(task_id: int) -> LeaseLostError:
    return LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")


class Leases:
    """Claims and settles tasks for workers."""

    def __init__(self, store: Store, settler: Settler) -> None:
        self.store = store
        self.settler = settler

    def dequeue(
        self,
        worker_id: str,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Claim | None:
        """Claim the next runnable task for `worker_id`, or return None.

        Order: priority (5 first), then scheduled_for, then id. Skipped: tasks scheduled for the
        future, blocked ones, a paused queue or agent, agents at their concurrency limit, and
        tasks whose lock key is at its capacity. The claim runs in one write transaction (on
        PostgreSQL, after a locked pick: see backends/postgresql.py), so no two claimers ever get
        the same task.
        """
        lease_s = check.positive_seconds("lease_s", lease_s) or 0.0
        now = self.store.clock()
        agent_list = None if agents is None else list(agents)
        type_list = None if task_types is None else list(task_types)
        for _ in range(CLAIM_ATTEMPTS):
            try:
                with self.store.write() as conn:
                    row = self.store.backend.claim(
                        conn, now=now, worker=worker_id, token=secrets.token_hex(16), expires=now + lease_s,
                        agents=agent_list, types=type_list,
                    )
                return None if row is None else claim_from_row(row)
            except ClaimRace:
                continue
        return None

    def heartbeat(
        self,
        task_id: int,
        token: str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        progress: int | None = None,
        message: str | None = None,
        output_tail: str | None = None,
    ) -> bool:
        """Renew the lease and record progress. Returns True if a cancel was requested.

        Raises LeaseLostError when `token` is no longer the task's lease.
        """
        values: dict[str, Any] = {"lease_expires_at": self.store.clock() + lease_s}
        if progress is not None:
            values["progress"] = max(0, min(100, int(progress)))
        if message is not None:
            values["progress_message"] = message[:500]
        with self.store.write() as conn:
            row = conn.execute(
                update(T)
                .where(T.c.id == task_id, T.c.lease_token == token, T.c.status == TaskStatus.RUNNING.value)
                .values(values)
                .returning(T.c.cancel_requested)
            ).first()
            if row is None:
                raise _lost(task_id)
            if output_tail is not None:
                conn.execute(
                    update(A)
                    .where(A.c.task_id == task_id, A.c.outcome == "running")
                    .values(output_tail=tail(output_tail, MAX_OUTPUT_TAIL_CHARS))
                )
        return bool(row.cancel_requested)

    def cancel_requests(self, worker_id: str) -> list[int]:
        """Ids of `worker_id`'s running tasks that were asked to cancel (a cheap indexed read)."""
        with self.store.read() as conn:
            return list(
                conn.execute(
                    select(T.c.id).where(
                        T.c.status == TaskStatus.RUNNING.value,
                        T.c.lease_owner == worker_id,
                        T.c.cancel_requested.is_(True),
                    )
                ).scalars()
            )

    def complete(self, task_id: int, token: str, result: Any = None, *, output_tail: str | None = None) -> Task:
        """Mark a claimed task completed and release dependents whose dependencies are all done."""
        result_json = check.json_text("result", result, self.store.max_payload_bytes)
        now = self.store.clock()
        with self.store.write() as conn:
            row, unblocked = self.store.backend.complete(
                conn, task_id=task_id, token=token, now=now, result=result_json,
                output_tail=tail(output_tail, MAX_OUTPUT_TAIL_CHARS),
            )
            if row is None:
                raise _lost(task_id)
            if unblocked:
                self.store.notify(conn)
            task = task_from_row(row)
            if task.notify_url:
                self.settler.notify_webhook(conn, task, now)
        return task

    def fail(
        self,
        task_id: int,
        token: str,
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
        now = self.store.clock()
        with self.store.write() as conn:
            row = conn.execute(
                select(T)
                .where(T.c.id == task_id, T.c.lease_token == token, T.c.status == TaskStatus.RUNNING.value)
                .with_for_update()  # a cancel request made meanwhile is seen, not overwritten
            ).first()
            if row is None:
                raise _lost(task_id)
            self.settler.fail(
                conn, row._mapping, now, error, traceback=traceback, retryable=retryable, output_tail=output_tail
            )
            return self.settler.get(conn, task_id)

    def release(self, task_id: int, token: str, reason: str = "worker shut down") -> Task:
        """Give a claimed task back without counting the attempt (used on graceful shutdown).

        The task becomes pending again at once; its attempt is logged as ``interrupted``.
        """
        now = self.store.clock()
        with self.store.write() as conn:
            done = conn.execute(
                update(T)
                .where(T.c.id == task_id, T.c.lease_token == token, T.c.status == TaskStatus.RUNNING.value)
                .values(status=TaskStatus.PENDING.value, attempts=T.c.attempts - 1, scheduled_for=now, **LEASE_CLEARED)
            ).rowcount
            if not done:
                raise _lost(task_id)
            self.settler.end_attempt(conn, task_id, now, "interrupted", error=reason)
            self.store.notify(conn)
            return self.settler.get(conn, task_id)
