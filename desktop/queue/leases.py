"""Claiming tasks under a lease, renewing it, and settling the attempt: what workers call.

Claims and settles come in batches, each one write transaction: a worker claims as many tasks as
it has free slots (dequeue_many) and settles what finished since its last batch (settle_many),
and learns the outcome only once the batch has committed. The single-task calls (dequeue,
complete, fail, release, park) are batches of one.

Every call after the claim carries the claim's token (a fencing token): once the lease has passed
to another worker (it expired and the task was recovered), the old holder's calls are refused with
LeaseLostError and change nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update

from desktop.errors import AgentQueueError, LeaseLostError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.backends import ClaimRace, ClaimRequest
from desktop.queue.settling import MAX_OUTPUT_TAIL_CHARS, AttemptEnd, Settler, tail
from desktop.queue.store import Store
from desktop.queue.tables import T
from desktop.queue.types import OUTCOMES, Claim, Settlement, Task, TaskStatus

DEFAULT_LEASE_S = 60.0
CLAIM_ATTEMPTS = 20  # claims lost to a concurrent claimer before dequeue gives up until the next poll
MAX_CLAIM = 10_000  # tasks one dequeue_many may claim
HOST = socket.gethostname()
Settled = Task | int | AgentQueueError  # what a settle gives back for each item (see settle_many)


def lease_lost(task_id: int) -> LeaseLostError:
    return LeaseLostError(f"task {task_id}: the lease is no longer held by this worker")


class Leases:
    """Claims and settles tasks for workers."""

    def __init__(self, store: Store, settler: Settler) -> None:
        self.store = store
        self.settler = settler

    # -- claiming -------------------------------------------------------------------------------

    def dequeue_many(
        self,
        worker_id: str,
        limit: int,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        host: str = HOST,
    ) -> list[Claim]:
        """Claim up to `limit` runnable tasks for `worker_id` in one transaction, in claim order.

        Order: priority (5 first), then scheduled_for, then id. Skipped: tasks scheduled for the
        future, blocked ones, a paused queue or agent, and tasks whose agent is at its concurrency
        limit or whose lock key is at its capacity, counting the tasks claimed in the same call.
        No two claimers ever get the same task (see Backend.claim).
        """
        check.concurrency(limit, "limit")
        return self.settle_and_claim(
            (), worker_id, limit, agents=agents, task_types=task_types, lease_s=lease_s, host=host
        )[1]

    def dequeue(
        self,
        worker_id: str,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> Claim | None:
        """Claim the next runnable task for `worker_id`, or return None (see dequeue_many)."""
        claims = self.dequeue_many(worker_id, 1, agents=agents, task_types=task_types, lease_s=lease_s)
        return claims[0] if claims else None

    # -- while it runs --------------------------------------------------------------------------

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
        """Renew the lease and record progress (and the output so far, for other processes to
        show). Returns True if a cancel was requested.

        Raises LeaseLostError when `token` is no longer the task's lease.
        """
        values: dict[str, Any] = {"lease_expires_at": self.store.clock() + lease_s}
        if progress is not None:
            values["progress"] = max(0, min(100, int(progress)))
        if message is not None:
            values["progress_message"] = message[:500]
        if output_tail is not None:
            values["output_tail"] = tail(output_tail, MAX_OUTPUT_TAIL_CHARS)
        return self._update_running(task_id, token, values)

    def record_process(self, task_id: int, token: str, *, pid: int, host: str = HOST) -> None:
        """Record the process (group) that runs the attempt and its host, saved with the attempt."""
        pid = check.non_negative_int("pid", pid) or 0
        self._update_running(task_id, token, {"lease_pid": pid, "lease_host": check.label("host", host, 200)})

    def _update_running(self, task_id: int, token: str, values: dict[str, Any]) -> bool:
        with self.store.write() as conn:
            row = conn.execute(
                update(T)
                .where(T.c.id == task_id, T.c.lease_token == token, T.c.status == TaskStatus.RUNNING.value)
                .values(values)
                .returning(T.c.cancel_requested)
            ).first()
        if row is None:
            raise lease_lost(task_id)
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

    # -- settling -------------------------------------------------------------------------------

    def settle_many(self, settlements: Sequence[Settlement], *, tasks: bool = True) -> list[Settled]:
        """End the attempts of claimed tasks in one transaction; for each, the task as it ended
        (completed, retrying, failed, cancelled, pending or parked) or the error that refused it:
        LeaseLostError when its token is no longer the lease, TaskValidationError for a result,
        details or time that breaks a rule. A refused item writes nothing; the others are saved.

        With `tasks` False a settled one is its id instead of its Task: a worker that announces
        nothing skips building them (half of a no-op task's Python cost).
        """
        return self.settle_and_claim(settlements, "", 0, tasks=tasks)[0]

    def settle_and_claim(
        self,
        settlements: Sequence[Settlement],
        worker_id: str,
        limit: int,
        *,
        agents: Iterable[str] | None = None,
        task_types: Iterable[str] | None = None,
        lease_s: float = DEFAULT_LEASE_S,
        host: str = HOST,
        tasks: bool = True,
    ) -> tuple[list[Settled], list[Claim]]:
        """settle_many, then dequeue_many, in one transaction: a worker's pass (its batch
        completer and its claim share one commit; what the settled tasks freed can be claimed)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_CLAIM:
            raise TaskValidationError("limit", f"must be a whole number from 0 to {MAX_CLAIM:,} (got {limit!r})")
        lease_s = check.positive_seconds("lease_s", lease_s) or 0.0
        prepared: list[Settled | None] = [None] * len(settlements)
        completes: list[tuple[int, dict[str, Any]]] = []  # the hot path: set-based, see Backend.complete
        others: list[tuple[int, AttemptEnd]] = []
        seen: set[int] = set()
        for index, item in enumerate(settlements):
            end: dict[str, Any] | AttemptEnd
            try:
                end = self._completion(item) if item.outcome == "completed" else self._end(item)
                if item.task_id in seen:  # settled earlier in this batch: the lease is gone
                    raise lease_lost(item.task_id)
                seen.add(item.task_id)
            except AgentQueueError as exc:
                prepared[index] = exc
                continue
            if isinstance(end, AttemptEnd):
                others.append((index, end))
            else:
                completes.append((index, end))
        if not (completes or others or limit):
            return self._done(prepared), []
        agent_list = None if agents is None else list(agents)
        type_list = None if task_types is None else list(task_types)
        for attempt in range(CLAIM_ATTEMPTS):
            results = list(prepared)
            now = self.store.clock()
            # A claim that keeps losing races gives up; the settlements are saved all the same.
            wanted = limit if attempt < CLAIM_ATTEMPTS - 1 else 0
            request = ClaimRequest(
                worker=worker_id, host=host, limit=wanted, now=now, expires=now + lease_s, agents=agent_list,
                types=type_list,
            )
            try:
                with self.store.write() as conn:
                    if completes:
                        done = self.settler.complete(conn, [item for _, item in completes], now, tasks=tasks)
                        for index, completion in completes:
                            results[index] = done.get(completion["id"]) or lease_lost(completion["id"])
                    if others:
                        self._settle_others(conn, settlements, others, results, now, tasks)
                    claims = self.store.backend.claim(conn, request) if wanted else []
            except ClaimRace:
                continue
            return self._done(results), claims
        raise AssertionError("unreachable: the last attempt claims nothing, so it cannot race")

    @staticmethod
    def _done(results: list[Settled | None]) -> list[Settled]:
        settled = [r for r in results if r is not None]
        assert len(settled) == len(results), "every settlement gets a task or an error"
        return settled

    def _settle_others(
        self,
        conn: Any,
        settlements: Sequence[Settlement],
        others: list[tuple[int, AttemptEnd]],
        results: list[Settled | None],
        now: float,
        tasks: bool,
    ) -> None:
        rows = {r["id"]: r for r in self.store.backend.running_rows(conn, [settlements[i].task_id for i, _ in others])}
        pairs: list[tuple[Any, AttemptEnd]] = []
        indexes: list[int] = []
        for index, end in others:
            item = settlements[index]
            row = rows.get(item.task_id)
            if row is None or row["lease_token"] != item.token:
                results[index] = lease_lost(item.task_id)
                continue
            pairs.append((row, end))
            indexes.append(index)
        for index, task in zip(indexes, self.settler.settle(conn, pairs, now), strict=True):
            results[index] = task if tasks else task.id

    def _completion(self, item: Settlement) -> dict[str, Any]:
        sums, details = check.attempt_details(item.details)
        return {
            "id": item.task_id, "token": item.token,
            "result": check.json_text("result", item.result, self.store.max_payload_bytes),
            "output_tail": tail(item.output_tail, MAX_OUTPUT_TAIL_CHARS), **sums, "details": details,
        }

    def _end(self, item: Settlement) -> AttemptEnd:
        if item.outcome not in OUTCOMES:
            raise TaskValidationError("outcome", f"must be one of {', '.join(OUTCOMES)} (got {item.outcome!r})")
        sums, details = check.attempt_details(item.details)
        until = check.epoch_seconds("until", item.until) if item.outcome == "parked" else None
        return AttemptEnd(
            outcome=item.outcome, error=None if item.error is None else str(item.error),
            traceback=item.traceback, retryable=item.retryable, output_tail=item.output_tail, until=until,
            sums=sums, details_json=details,
        )

    def settle(self, item: Settlement) -> Task:
        """Settle one attempt (see settle_many); raises its error."""
        [result] = self.settle_many([item])
        if isinstance(result, AgentQueueError):
            raise result
        assert isinstance(result, Task)
        return result
