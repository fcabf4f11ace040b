"""Running one claimed task with its agent kind, and recording how it ended. No Qt here."""

from __future__ import annotations

import enum
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from desktop.agents.base import (
    AgentKind,
    PermanentError,
    TaskCancelled,
    TaskContext,
    TaskTimeout,
)
from desktop.errors import LeaseLostError, TaskValidationError
from desktop.logs import task_logging
from desktop.queue import Task, TaskQueueService

log = logging.getLogger(__name__)


class StopReason(str, enum.Enum):
    """Why the pool asked a running action to stop."""

    CANCEL = "cancel"  # the user cancelled the task
    TIMEOUT = "timeout"  # it ran past its timeout
    SHUTDOWN = "shutdown"  # the pool is stopping: give the task back, do not fail it
    LOST = "lost"  # the lease was lost: someone else owns the task now


@dataclass
class RunningTask:
    """A task this pool is running: its context, deadline, and why it must stop, if it must."""

    task: Task
    token: str  # the claim's lease token: only this worker holds it
    ctx: TaskContext
    timeout_s: float
    started: float = field(default_factory=time.monotonic)
    stop_reason: StopReason | None = None
    abandoned: bool = False  # the task is settled: a later outcome of the action is dropped
    given_up: bool = False  # the action ignored a stop past its timeout; its slot was handed on
    progress: tuple[int | None, str | None] = (None, None)  # the last report, for heartbeats
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def deadline(self) -> float:
        return self.started + self.timeout_s

    def stop(self, reason: StopReason) -> None:
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.ctx.cancel_event.set()


def execute(service: TaskQueueService, running: RunningTask, kind: AgentKind, config: dict[str, Any]) -> Task | None:
    """Run the action and settle the task: complete, fail (maybe to retry), cancel or release.

    Returns the task as it ended up, or None when the outcome was dropped (lease lost, or the
    pool gave up on the action and settled the task itself).
    """
    task, ctx = running.task, running.ctx
    with task_logging(task.id):
        try:
            result = kind.run(task, config, ctx)
        except PermanentError as exc:
            return _settle(service, running, "fail", str(exc), traceback.format_exc(), retryable=False)
        except TaskTimeout as exc:
            return _settle(service, running, "fail", str(exc), traceback.format_exc())
        except TaskCancelled as exc:
            return _after_stop(service, running, exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is a retryable attempt
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _settle(service, running, "fail", message, traceback.format_exc())
        return _settle(service, running, "complete", result=result)


def _after_stop(service: TaskQueueService, running: RunningTask, exc: TaskCancelled) -> Task | None:
    reason = running.stop_reason
    if reason is StopReason.SHUTDOWN:
        return _settle(service, running, "release")
    if reason is StopReason.TIMEOUT:
        return _settle(service, running, "fail", f"timed out after {running.timeout_s:g} s")
    if reason is StopReason.LOST:
        return None
    # Cancelled by the user (the service turns this failure into 'cancelled'), or the action
    # stopped on its own with TaskCancelled: a failure that is not worth retrying.
    return _settle(service, running, "fail", str(exc) or "cancelled while running", retryable=False)


def give_up(service: TaskQueueService, running: RunningTask) -> Task | None:
    """Fail a task whose action did not stop after its timeout; its thread is left to finish."""
    error = f"timed out after {running.timeout_s:g} s (the action did not stop when asked)"
    return _settle(service, running, "fail", error)


def _settle(
    service: TaskQueueService,
    running: RunningTask,
    how: str,
    error: str = "",
    tb: str | None = None,
    *,
    retryable: bool = True,
    result: Any = None,
) -> Task | None:
    task, ctx = running.task, running.ctx
    with running.lock:
        if running.abandoned:
            log.info("task %s: the action ended after the pool gave up on it; outcome dropped", task.id)
            return None
        running.abandoned = True  # settled now: the pool must not settle it again
    token = running.token
    try:
        if how == "complete":
            try:
                return service.complete(task.id, token, result, output_tail=ctx.output_tail())
            except TaskValidationError as exc:  # e.g. a result that is not JSON
                error, retryable = f"the action's result was refused: {exc}", False
        if how == "release":
            return service.release(task.id, token)
        if tb and error:
            log.warning("attempt failed: %s", error)
        return service.fail(
            task.id, token, error, traceback=tb, retryable=retryable, output_tail=ctx.output_tail()
        )
    except LeaseLostError:
        log.warning("the lease was lost (the task was recovered by another worker); outcome dropped")
        return None
