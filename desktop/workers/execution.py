"""Running one claimed task with its agent kind, and deciding how its attempt ended. No Qt here.

`execute` returns a Settlement (complete, fail, release or park) for the pool's completer, which
writes many of them in one transaction; the action's own thread never waits on the database.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from desktop.agents.base import (
    AgentKind,
    PermanentError,
    TaskCancelled,
    TaskContext,
    TaskTimeout,
    UsageLimitReached,
)
from desktop.errors import TaskValidationError
from desktop.logs import task_logging
from desktop.queue import Settlement, Task
from desktop.queue import validation as check

log = logging.getLogger(__name__)

PARK_MARGIN_S = 60.0  # after a usage limit resets, before the task runs again
PARK_UNKNOWN_S = 3600.0  # how long to park when the reset time makes no sense


class StopReason(str, enum.Enum):
    """Why the pool asked a running action to stop."""

    CANCEL = "cancel"  # the user cancelled the task
    TIMEOUT = "timeout"  # it ran past its timeout
    SHUTDOWN = "shutdown"  # the pool is stopping: give the task back, do not fail it
    LOST = "lost"  # the lease was lost: someone else owns the task now


@dataclass
class RunningTask:
    """A task this pool holds: its context, deadline, and why it must stop, if it must."""

    task: Task
    token: str  # the claim's lease token: only this worker holds it
    ctx: TaskContext
    timeout_s: float
    claimed: float = field(default_factory=time.monotonic)  # handed to this pool (its lease renewed then)
    started: float | None = None  # when its action began (monotonic): None while it waits for a slot
    stop_reason: StopReason | None = None
    abandoned: bool = False  # its outcome is decided: a later one from the action is dropped
    given_up: bool = False  # the action ignored a stop past its timeout; its slot was handed on
    progress: tuple[int | None, str | None] = (None, None)  # the last report, for heartbeats
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def deadline(self) -> float:
        """When its timeout passes: never while it waits for a slot."""
        return math.inf if self.started is None else self.started + self.timeout_s

    def stop(self, reason: StopReason) -> None:
        with self.lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.ctx.cancel_event.set()


class Workspaces(Protocol):
    """Runs a task of a repository in its workspace (desktop.workspaces.task_runs.WorkspaceRunner)."""

    def run(self, task: Task, kind: AgentKind, config: dict[str, Any], ctx: TaskContext) -> Any: ...


def execute(
    running: RunningTask, kind: AgentKind, config: dict[str, Any], workspaces: Workspaces | None = None
) -> Settlement | None:
    """Run the action (a task of a repository in its workspace) and say how its attempt ended:
    complete, fail (maybe to retry), cancel, release or park. None when the outcome is dropped
    (lease lost, or the pool gave up on the action and settled the task itself)."""
    task, ctx = running.task, running.ctx
    with task_logging(task.id):
        try:
            if task.repo is None:
                result = kind.run(task, config, ctx)
            elif workspaces is None:
                raise PermanentError(f"this worker runs no tasks of repositories (task {task.id} is of {task.repo!r})")
            else:
                result = workspaces.run(task, kind, config, ctx)
        except UsageLimitReached as exc:
            return _park(running, exc)
        except PermanentError as exc:
            return _end(running, "fail", str(exc), traceback.format_exc(), retryable=False)
        except TaskTimeout as exc:
            return _end(running, "fail", str(exc), traceback.format_exc())
        except TaskCancelled as exc:
            return _after_stop(running, exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is a retryable attempt
            message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _end(running, "fail", message, traceback.format_exc())
        try:
            check.json_text("result", result)
        except TaskValidationError as exc:  # e.g. a result that is not JSON
            return _end(running, "fail", f"the action's result was refused: {exc}", retryable=False)
        return _end(running, "complete", result=result)


def _after_stop(running: RunningTask, exc: TaskCancelled) -> Settlement | None:
    reason = running.stop_reason
    if reason is StopReason.SHUTDOWN:
        return _end(running, "release")
    if reason is StopReason.TIMEOUT:
        return _end(running, "fail", f"timed out after {running.timeout_s:g} s")
    if reason is StopReason.LOST:
        with running.lock:
            running.abandoned = True
        return None
    # Cancelled by the user (the service turns this failure into 'cancelled'), or the action
    # stopped on its own with TaskCancelled: a failure that is not worth retrying.
    return _end(running, "fail", str(exc) or "cancelled while running", retryable=False)


def _park(running: RunningTask, exc: UsageLimitReached) -> Settlement | None:
    now = time.time()
    resets = exc.resets_at if isinstance(exc.resets_at, (int, float)) and math.isfinite(exc.resets_at) else None
    until = now + PARK_UNKNOWN_S if resets is None else max(now, resets) + PARK_MARGIN_S
    until = min(until, check.MAX_TIMESTAMP)
    when = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
    message = f"{exc} (usage limit: parked until {when}; this attempt does not count as a retry)"
    return _end(running, "park", message, until=until)


def give_up(running: RunningTask) -> Settlement | None:
    """Fail a task whose action did not stop after its timeout; its thread is left to finish.
    None when the action ended meanwhile (its own outcome stands)."""
    with running.lock:
        if running.abandoned:
            return None
        running.abandoned = running.given_up = True
    error = f"timed out after {running.timeout_s:g} s (the action did not stop when asked)"
    return Settlement.fail(running.task.id, running.token, error, output_tail=running.ctx.output_tail(), details=_details(running))


def unstarted(running: RunningTask) -> Settlement | None:
    """Give back a task whose action never began (see Settlement.unstarted); None if already decided."""
    with running.lock:
        if running.abandoned:
            return None
        running.abandoned = True
    return Settlement.unstarted(running.task.id, running.token)


def release(running: RunningTask, reason: str = "worker shut down") -> Settlement | None:
    """Give back a task whose action never started or ignored a stop; None if already decided."""
    with running.lock:
        if running.abandoned:
            return None
        running.abandoned = True
    return Settlement.release(running.task.id, running.token, reason, details=_details(running))


def _end(
    running: RunningTask,
    how: str,
    error: str = "",
    tb: str | None = None,
    *,
    retryable: bool = True,
    result: Any = None,
    until: float | None = None,
) -> Settlement | None:
    task, ctx = running.task, running.ctx
    with running.lock:
        if running.abandoned:
            log.info("task %s: the action ended after the pool gave up on it; outcome dropped", task.id)
            return None
        running.abandoned = True  # decided now: the pool must not settle it again
    tail, details = ctx.output_tail(), _details(running)
    took = time.monotonic() - running.started
    if how == "complete":
        log.info("task %s (%s) completed in %.3f s", task.id, task.agent, took)
        return Settlement.complete(task.id, running.token, result, output_tail=tail, details=details)
    if how == "release":
        return Settlement.release(task.id, running.token, output_tail=tail, details=details)
    if how == "park":
        return Settlement.park(task.id, running.token, until or time.time(), error, output_tail=tail, details=details)
    # The whole traceback goes to the log file; the attempt keeps it too (agentq show).
    log.error("task %s (%s) failed after %.3f s: %s%s", task.id, task.agent, took, error, f"\n{tb.rstrip()}" if tb else "")
    return Settlement.fail(
        task.id, running.token, error, traceback=tb, retryable=retryable, output_tail=tail, details=details
    )


def _details(running: RunningTask) -> dict[str, Any] | None:
    """What the action reported, without any value the queue would refuse (logged instead)."""
    details = dict(running.ctx.details)
    for key in list(details):
        try:
            check.attempt_details({key: details[key]})
        except TaskValidationError as exc:
            log.warning("task %s: attempt detail dropped: %s", running.task.id, exc)
            del details[key]
    return details or None
