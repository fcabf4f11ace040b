"""The dispatcher's watch over the running tasks: lease renewals, cancel requests and timeouts.

Each heartbeat renews the leases of the tasks claimed a while ago (with their progress and output
tail); a lost lease or a cancel request stops the action. Cancel requests made elsewhere (say
`agentq cancel` in a terminal) are looked up after the database changed, at most every
CANCEL_CHECK_S. An action past its timeout is asked to stop TIMEOUT_GRACE_S after its deadline;
one that ignores the request for GIVE_UP_AFTER_S more is failed, and its slot handed on (the pool's
`gave_up` does that; the stuck thread leaves quietly when, if ever, the action returns).
`TaskWatch` holds these rules and when cancels were last looked up; only the dispatcher uses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from desktop.errors import LeaseLostError
from desktop.queue import Settlement, TaskQueueService
from desktop.workers.execution import RunningTask, StopReason, give_up

log = logging.getLogger(__name__)

TIMEOUT_GRACE_S = 2.0  # after the deadline: ask the action to stop
GIVE_UP_AFTER_S = 5.0  # after asking: fail the task and free the slot
CANCEL_CHECK_S = 0.1  # how often, at most, to look for cancel requests when something changed


class TaskWatch:
    """Renews, cancels and times out the pool's running tasks (`running` lists them)."""

    def __init__(
        self, service: TaskQueueService, worker_id: str, *, running: Callable[[], list[RunningTask]],
        cancel: Callable[[int], None], gave_up: Callable[[RunningTask, Settlement], None],
    ) -> None:
        self.service = service
        self.worker_id = worker_id
        self._running, self._cancel, self._gave_up = running, cancel, gave_up
        self._last_cancel_check = 0.0
        self._cancel_check_due = False

    def heartbeat(self, beat_every: float, lease_s: float) -> None:
        """Renew the leases of the tasks claimed at least `beat_every` ago (younger ones are still
        well within the lease they were claimed with: run-ahead claims many short ones)."""
        now = time.monotonic()
        for running in self._running():
            if now - running.claimed < beat_every:
                continue
            task = running.task
            percent, message = running.progress
            try:
                cancel = self.service.heartbeat(
                    task.id, running.token, lease_s=lease_s,
                    progress=percent, message=message, output_tail=running.ctx.output_tail() or None,
                )
            except LeaseLostError:
                if running.abandoned:  # it was decided while the heartbeat was on its way
                    continue
                log.warning("task %s: lease lost; stopping its action", task.id)
                running.stop(StopReason.LOST)
                continue
            if cancel:
                running.stop(StopReason.CANCEL)

    def stop_cancelled(self, changed: bool) -> None:
        """After a change to the database, stop the tasks that were asked to cancel. Looked up at
        most every CANCEL_CHECK_S (this pool's own commits are changes too, many a second when it
        is busy); a change seen in between is looked up when the interval has passed."""
        self._cancel_check_due = self._cancel_check_due or changed
        now = time.monotonic()
        if not self._cancel_check_due or now - self._last_cancel_check < CANCEL_CHECK_S:
            return
        self._cancel_check_due = False
        self._last_cancel_check = now
        if not self._running():
            return
        for task_id in self.service.cancel_requests(self.worker_id):
            self._cancel(task_id)

    def enforce_timeouts(self) -> None:
        now = time.monotonic()
        for running in self._running():
            if now < running.deadline + TIMEOUT_GRACE_S:
                continue
            if running.stop_reason is None:
                log.warning("task %s: past its %g s timeout; stopping it", running.task.id, running.timeout_s)
                running.stop(StopReason.TIMEOUT)
            elif now >= running.deadline + TIMEOUT_GRACE_S + GIVE_UP_AFTER_S:
                # The action ignores the request to stop: fail the task and hand its slot on.
                settlement = give_up(running)  # decides under the task's lock: only one side wins
                if settlement is not None:
                    self._gave_up(running, settlement)
