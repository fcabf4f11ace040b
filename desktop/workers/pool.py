"""The worker pool: claims tasks and runs their actions on a QThreadPool. QtCore only.

A dispatcher thread (plain Python, so the GUI thread never waits on the database) claims as many
tasks as the pool has free slots, renews the leases of running tasks, enforces timeouts, recovers
expired leases and fires due schedules. Each claimed task runs in a QRunnable. Qt signals announce
what happens, so the window can follow live through queued connections.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from desktop.agents.base import AgentKind, TaskContext
from desktop.agents.registry import load_kinds
from desktop.config import Settings
from desktop.errors import AgentQueueError, LeaseLostError
from desktop.queue import Agent, Claim, Task, TaskQueueService
from desktop.queue.backends import ChangeWatcher
from desktop.workers.execution import RunningTask, StopReason, execute, give_up
from desktop.workers.timers import Every

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 15.0
TIMEOUT_GRACE_S = 2.0  # after the deadline: ask the action to stop
GIVE_UP_AFTER_S = 5.0  # after asking: fail the task and free the slot
AGENT_CACHE_S = 2.0
CLEANUP_EVERY_S = 3600.0
WATCH_EVERY_S = 0.05  # how often to look for commits by other processes


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Slot(QRunnable):
    """One unit of the pool's concurrency: runs a task, then claims and runs the next one itself.

    Claiming the next task in the same thread saves a hand-off to the dispatcher per task; the
    slot ends when the queue has nothing for it, and the dispatcher starts a new one when needed.
    """

    def __init__(self, pool: WorkerPool, first: Claim) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._pool = pool
        self._first = first

    def run(self) -> None:
        self._pool._run_slot(self._first)


class WorkerPool(QObject):
    """Runs queued tasks with their agents' actions.

    Signals:
        task_started(Task): a task was claimed and its action started.
        task_progress(int, int, str): task id, percent, message.
        task_finished(Task): a task's attempt ended; its status says how (completed, failed,
            retrying, cancelled, or pending when it was given back on shutdown).
        drained(): burst mode only: nothing runnable is left and nothing is running.
        state_changed(str): "running", "stopping" or "stopped".
    """

    task_started = Signal(object)
    task_progress = Signal(int, int, str)
    task_finished = Signal(object)
    drained = Signal()
    state_changed = Signal(str)

    def __init__(
        self,
        service: TaskQueueService,
        settings: Settings,
        *,
        worker_id: str | None = None,
        agents: list[str] | None = None,
        kinds: dict[str, AgentKind] | None = None,
        burst: bool = False,
        output_dir: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.agents = agents
        self.kinds = kinds if kinds is not None else load_kinds()
        self.burst = burst
        self.output_dir = output_dir
        self._monotonic = monotonic  # the dispatcher's clock for its periodic passes (tests inject one)
        self._threads = QThreadPool(self)
        self._threads.setMaxThreadCount(settings.concurrency)
        self._running: dict[int, RunningTask] = {}
        self._slots = 0  # slots started and not yet ended
        self._agents: dict[str, tuple[Agent, float]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._dispatcher is not None and self._dispatcher.is_alive()

    def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        self.service.enqueued.connect(self._on_enqueued)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="agentq-dispatcher", daemon=True)
        self._dispatcher.start()
        self.state_changed.emit("running")
        log.info("worker %s started: concurrency %d", self.worker_id, self.settings.concurrency)

    def wake(self) -> None:
        """Claim now instead of at the next poll (after an enqueue, a resume, a finished task)."""
        self._wake.set()

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings at once: concurrency, default timeout, polling, lease, grace period."""
        self.settings = settings.validate()
        self._threads.setMaxThreadCount(settings.concurrency)
        self.wake()

    def set_concurrency(self, concurrency: int) -> None:
        self.apply_settings(dataclasses.replace(self.settings, concurrency=concurrency))

    def stop_now(self) -> None:
        """Cut a graceful stop short: ask every running action to stop; their tasks are released."""
        for running in self.running_tasks():
            running.stop(StopReason.SHUTDOWN)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming, let running tasks finish for `grace_s`, then give the rest back.

        Tasks still running after the grace period are asked to stop and released: they become
        pending again, with no attempt counted and nothing marked failed.
        """
        if self._dispatcher is None:
            return
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        self.state_changed.emit("stopping")
        self._stopping.set()
        self._wake.set()
        self._dispatcher.join()  # it may have ended by itself (burst mode)
        self._dispatcher = None
        self._wait_idle(grace)
        for running in self.running_tasks():
            running.stop(StopReason.SHUTDOWN)
        self._wait_idle(GIVE_UP_AFTER_S)
        for running in self.running_tasks():  # actions that ignored the request: release for them
            self._release_abandoned(running)
        # Runnables forget their task just before their last signal: let them return, so no pool
        # thread is still in Python when the interpreter shuts down.
        self._threads.waitForDone(int(GIVE_UP_AFTER_S * 1000))
        self.service.enqueued.disconnect(self._on_enqueued)
        self.state_changed.emit("stopped")
        log.info("worker %s stopped", self.worker_id)

    def running_tasks(self) -> list[RunningTask]:
        with self._lock:
            return list(self._running.values())

    def output_tail(self, task_id: int) -> str:
        with self._lock:
            running = self._running.get(task_id)
        return running.ctx.output_tail() if running else ""

    def cancel_running(self, task_id: int) -> None:
        """Stop a running task of this pool now (after `service.cancel` flagged it)."""
        with self._lock:
            running = self._running.get(task_id)
        if running is not None:
            running.stop(StopReason.CANCEL)

    # -- dispatcher thread ------------------------------------------------------------------

    def _on_enqueued(self, _tasks: list[Task]) -> None:
        self._wake.set()

    def _dispatch_loop(self) -> None:
        watcher = self.service.watcher()
        try:
            self._dispatch(watcher)
        finally:
            watcher.close()

    def _dispatch(self, watcher: ChangeWatcher) -> None:
        # Lease recovery and retention run at start (a crashed worker's tasks are rescued and old
        # tasks removed as soon as the app opens), then every period.
        recover, cleanup = Every(RECOVER_EVERY_S), Every(CLEANUP_EVERY_S)
        beat_every = min(self.settings.lease_s / 3, 2.0)
        beat = Every(beat_every)
        while not self._stopping.is_set():
            self._wake.clear()
            now = self._monotonic()
            try:
                if recover.due(now):
                    self._recover()
                if self.settings.retention_days > 0 and cleanup.due(now):
                    self._cleanup()
                self.service.fire_due_schedules()
                claimed_all = self._fill()
                if beat.due(now):
                    self._heartbeat()
                self._enforce_timeouts()
            except AgentQueueError as exc:
                log.error("dispatcher: %s", exc)
                claimed_all = False
            except Exception:
                log.exception("dispatcher: unexpected error; retrying at the next poll")
                claimed_all = False
            if self.burst and claimed_all and self._slots == 0:
                self.drained.emit()
                return
            self._idle(min(self.settings.poll_interval_s, beat_every), watcher)

    def _idle(self, seconds: float, watcher: ChangeWatcher) -> None:
        """Wait until woken, until another process changes the database, or for `seconds`."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and (left := deadline - time.monotonic()) > 0:
            if watcher.changed():
                self._stop_cancelled()  # e.g. `agentq cancel` from a terminal: act within 50 ms
                return
            self._wake.wait(min(WATCH_EVERY_S, left))

    def _stop_cancelled(self) -> None:
        if not self._running:
            return
        for task_id in self.service.cancel_requests(self.worker_id):
            self.cancel_running(task_id)

    def _cleanup(self) -> None:
        """Delete finished tasks past the retention period (settings.retention_days)."""
        deleted = self.service.cleanup(self.settings.retention_days * 86_400)
        if deleted:
            log.info("retention: deleted %d tasks finished over %g days ago", deleted, self.settings.retention_days)

    def _recover(self) -> None:
        recovered = self.service.recover_expired_leases()
        if recovered:
            log.warning("recovered %d tasks whose worker stopped renewing its lease: %s", len(recovered), recovered)

    def _fill(self) -> bool:
        """Start a slot per free unit of concurrency. True when the queue had nothing more to give."""
        while self._slots < self.settings.concurrency and not self._stopping.is_set():
            claim = self._claim()
            if claim is None:
                return True
            with self._lock:
                self._slots += 1
            self._threads.start(_Slot(self, claim))
        return False

    def _claim(self) -> Claim | None:
        if self._stopping.is_set():
            return None
        return self.service.dequeue(self.worker_id, agents=self.agents, lease_s=self.settings.lease_s)

    def _agent(self, name: str) -> Agent:
        """The agent's definition, cached for a moment: a busy pool runs many tasks per agent."""
        now = time.monotonic()
        cached = self._agents.get(name)
        if cached is None or now - cached[1] > AGENT_CACHE_S:
            cached = (self.service.get_agent(name), now)
            self._agents[name] = cached
        return cached[0]

    def _prepare(self, claim: Claim) -> tuple[RunningTask, AgentKind | None, dict[str, Any], str]:
        task = claim.task
        agent: Agent | None
        try:
            agent = self._agent(task.agent)
        except AgentQueueError as exc:
            agent, kind, error = None, None, str(exc)
        else:
            kind = self.kinds.get(agent.kind)
            error = f"agent kind {agent.kind!r} is not installed on worker {self.worker_id}"
        timeout = task.timeout_s or (agent.timeout_s if agent else None) or self.settings.timeout_s
        ctx = TaskContext(task=task, timeout_s=timeout, log_path=self._log_path(task))
        running = RunningTask(task=task, token=claim.token, ctx=ctx, timeout_s=timeout)

        def on_progress(percent: int, message: str | None) -> None:
            running.progress = (percent, message)  # saved with the next heartbeat
            self.task_progress.emit(task.id, percent, message or "")

        ctx.on_progress = on_progress
        return running, kind, (agent.config if agent else {}), error

    def _log_path(self, task: Task) -> Path | None:
        if self.output_dir is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        return self.output_dir / f"task-{task.id}.log"

    def _heartbeat(self) -> None:
        for running in self.running_tasks():
            task = running.task
            percent, message = running.progress
            try:
                cancel = self.service.heartbeat(
                    task.id, running.token, lease_s=self.settings.lease_s,
                    progress=percent, message=message, output_tail=running.ctx.output_tail() or None,
                )
            except LeaseLostError:
                if running.abandoned:  # it was settled while the heartbeat was on its way
                    continue
                log.warning("task %s: lease lost; stopping its action", task.id)
                running.stop(StopReason.LOST)
                continue
            if cancel:
                running.stop(StopReason.CANCEL)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for running in self.running_tasks():
            if now < running.deadline + TIMEOUT_GRACE_S:
                continue
            if running.stop_reason is None:
                log.warning("task %s: past its %g s timeout; stopping it", running.task.id, running.timeout_s)
                running.stop(StopReason.TIMEOUT)
            elif now >= running.deadline + TIMEOUT_GRACE_S + GIVE_UP_AFTER_S and not running.given_up:
                # The action ignores the request to stop. Fail the task, and hand its slot and
                # thread to new work; the stuck thread leaves quietly when (if) the action returns.
                running.given_up = True
                ended = give_up(self.service, running)
                self._forget(running)
                with self._lock:
                    self._slots -= 1
                self._threads.releaseThread()
                if ended is not None:
                    self.task_finished.emit(ended)

    def _release_abandoned(self, running: RunningTask) -> None:
        with running.lock:
            if running.abandoned:
                return
            running.abandoned = True
        try:
            self.service.release(running.task.id, running.token)
        except LeaseLostError:
            pass
        self._forget(running)

    # -- pool threads -----------------------------------------------------------------------

    def _run_slot(self, claim: Claim | None) -> None:
        try:
            while claim is not None:
                running = self._run_one(claim)
                if running is not None and running.given_up:  # the slot was handed on meanwhile
                    self._threads.reserveThread()
                    return
                if self._slots > self.settings.concurrency:  # concurrency was lowered
                    break
                claim = self._claim()
        except Exception:  # the database failed: leases expire and the tasks are recovered
            log.exception("worker slot stopped after an error")
        with self._lock:
            self._slots -= 1
        self._wake.set()

    def _run_one(self, claim: Claim) -> RunningTask | None:
        running, kind, config, error = self._prepare(claim)
        task = claim.task
        if kind is None:
            log.error("task %s: %s", task.id, error)
            self.task_finished.emit(self.service.fail(task.id, claim.token, error))
            return None
        with self._lock:
            self._running[task.id] = running
        self.task_started.emit(task)
        try:
            ended = execute(self.service, running, kind, config)
        finally:
            self._forget(running)
        if ended is not None:
            self.task_finished.emit(ended)
        return running

    def _forget(self, running: RunningTask) -> None:
        with self._lock:
            self._running.pop(running.task.id, None)

    def _wait_idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._slots and time.monotonic() < deadline:
            time.sleep(0.02)
