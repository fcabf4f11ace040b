"""The batch completer: the attempts that ended, waiting to be settled in one transaction.

Slots (and the dispatcher, for tasks it fails or gives back itself) queue each attempt's outcome
here instead of writing it. The dispatcher takes the whole queue as a batch and settles it in the
same transaction as its next claim (or alone, in `flush`, when the pool stops); only once that
commit is done are the tasks announced, so a task is never shown as ended before it is saved. An
outcome the queue refused (a result too big, say) comes back as a failure for the next batch. To
share commits, the dispatcher lingers up to LINGER_S after a first outcome for the running tasks
to end too, unless the batch is due: nothing else runs, or enough ended (`flush_at`). `Completer`
holds that queue under a lock of its own, and the counts of completed and failed attempts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from desktop.errors import AgentQueueError, DatabaseFileError, LeaseLostError
from desktop.queue import Settlement, Task, TaskQueueService, TaskValidationError

log = logging.getLogger(__name__)

LINGER_S = 0.002  # how long ended tasks wait for the running ones, to share a commit

OnSettled = Callable[[list[int], list[Task]], None]  # the tasks a batch settled, and those to announce


class Completer:
    """The queue of ended attempts, and what happens once a batch of them is committed.

    `busy` counts the pool's tasks that wait for a slot or run; `settled` is told, after each
    commit, which tasks the pool may forget and which ended tasks to announce.
    """

    def __init__(
        self, service: TaskQueueService, *, wake: threading.Event, stopping: threading.Event,
        busy: Callable[[], int], settled: OnSettled,
    ) -> None:
        self.service = service
        self._wake, self._stopping, self._busy, self._settled = wake, stopping, busy, settled
        self._lock = threading.Lock()
        self._ended: list[Settlement] = []  # outcomes waiting for the next batch
        self._flush_at = 1  # ended tasks that make the next batch worth its commit
        self._completed = self._failed = 0  # attempts settled, for the roster

    def end(self, settlement: Settlement | None) -> None:
        """Queue an outcome for the next batch (None: nothing to settle), and wake the dispatcher
        when it should settle: at the first outcome of a batch (it lingers a moment for more) and
        when the batch is due, not at every one."""
        with self._lock:
            if settlement is not None:
                self._ended.append(settlement)
            wake = len(self._ended) <= 1 or self._due()
        if wake:
            self._wake.set()

    def take(self, flush_at: int | None = None) -> list[Settlement]:
        """The batch to settle now (put it back if the database fails); `flush_at`: how many
        ended attempts will make the next batch due."""
        with self._lock:
            batch, self._ended = self._ended, []
            if flush_at is not None:
                self._flush_at = flush_at
        return batch

    def put_back(self, batch: list[Settlement]) -> None:
        """The database failed: settle `batch` with the next one."""
        with self._lock:
            self._ended[:0] = batch

    def pending(self) -> bool:
        with self._lock:
            return bool(self._ended)

    def counts(self) -> tuple[int, int]:
        """The attempts settled as completed and as failed."""
        with self._lock:
            return self._completed, self._failed

    def linger(self) -> None:
        """Some tasks ended while others still run: wait a moment (LINGER_S at most) for those
        to end too, so that one commit settles them all (a batch completer's flush interval)."""
        deadline = time.monotonic() + LINGER_S
        while (left := deadline - time.monotonic()) > 0:
            self._wake.clear()
            with self._lock:
                if self._due():
                    return
            self._wake.wait(left)

    def committed(self, batch: list[Settlement], results: list[Task | int | AgentQueueError]) -> None:
        """`batch` was settled with `results`: queue the refused outcomes again as failures,
        count and log the others, and tell the pool (see `settled`)."""
        refused, settled = [], []
        for settlement, result in zip(batch, results, strict=True):
            if isinstance(result, TaskValidationError) and settlement.outcome != "failed":
                refused.append(
                    Settlement.fail(
                        settlement.task_id, settlement.token, f"the outcome was refused: {result}",
                        retryable=False, output_tail=settlement.output_tail,
                    )
                )
            else:
                settled.append((settlement, result))
        with self._lock:  # once for the batch: slots take the same lock for every task
            for settlement, result in settled:
                if not isinstance(result, AgentQueueError):
                    self._completed += settlement.outcome == "completed"
                    self._failed += settlement.outcome == "failed"
            self._ended.extend(refused)
        finished = []
        for settlement, result in settled:
            if isinstance(result, LeaseLostError):
                log.warning("task %s: the lease was lost (recovered by another worker); outcome dropped",
                            settlement.task_id)
            elif isinstance(result, AgentQueueError):
                log.error("task %s: its outcome could not be saved: %s", settlement.task_id, result)
            elif isinstance(result, Task):
                finished.append(result)
        self._settled([settlement.task_id for settlement, _ in settled], finished)

    def flush(self) -> None:
        """Settle what ended, outside the dispatch loop (on stop); a database that fails now
        leaves the tasks to their leases."""
        for _ in range(2):  # a refused outcome comes back once, as a failure
            try:
                self._settle_alone()
            except (DatabaseFileError, DBAPIError) as exc:
                log.error("could not save the outcome of ended tasks (%s); their leases will expire", exc)
                return
            except Exception:
                log.exception("could not save the outcome of ended tasks; their leases will expire")
                return

    def _settle_alone(self) -> None:
        """Settle every ended attempt in one transaction of its own, then announce them."""
        batch = self.take()
        if not batch:
            return
        try:
            results = self.service.settle_many(batch)
        except Exception:  # the database failed: try again later
            self.put_back(batch)
            raise
        self.committed(batch, results)

    def _due(self) -> bool:
        """Whether ended tasks should be settled now rather than wait for more (the lock held):
        nothing else runs, or enough ended to make the commit worth it."""
        return self._busy() == 0 or len(self._ended) >= self._flush_at or self._stopping.is_set()
