"""The worker pool: claims tasks and runs their actions on a QThreadPool. QtCore only.

A dispatcher thread (plain Python, so the GUI thread never waits on the database) is the pool's
only writer. Each pass it settles, in one transaction, every attempt that ended since the last
pass (a batch completer: a task's end is announced only once its batch has committed), claims in
one transaction as many tasks as there are free slots, renews the leases of running tasks,
enforces timeouts, and runs the maintenance passes (lease rescue, retention, schedules), each due
at start and then every period. Slots are QRunnables that take claimed tasks from a hand-off
queue, run their actions, and hand the outcome back; they never touch the database.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMetaMethod, QObject, QRunnable, QThreadPool, Signal
from sqlalchemy.exc import DBAPIError

from desktop import paths
from desktop.agents.base import AgentKind, TaskContext
from desktop.agents.registry import load_kinds
from desktop.agents.supervise import LOCAL_PROGRAMS
from desktop.agents.timeouts import attempt_timeout
from desktop.config import Settings
from desktop.errors import AgentQueueError, DatabaseFileError, LeaseLostError
from desktop.private_files import private_dir
from desktop.queue import Agent, Beat, Claim, Settlement, Task, TaskQueueService, TaskValidationError
from desktop.queue.archive import Archive
from desktop.queue.backends import ChangeWatcher
from desktop.queue.leases import HOST
from desktop.workers.execution import RunningTask, StopReason, Workspaces, execute, give_up, release, unstarted
from desktop.workers.timers import Every
from desktop.workspaces.cleanup import WorkspacePruner
from desktop.workspaces.task_runs import WorkspaceRunner

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 15.0
RECOVER_WAITING_EVERY_S = 1.0  # while recovery waits for a dead worker's program to end
SCHEDULES_EVERY_S = 1.0  # cron has minute resolution; this is how late a fire may start
CLEANUP_EVERY_S = 3600.0
BUDGETS_EVERY_S = 60.0  # also after each batch that settled costly attempts
TIMEOUT_GRACE_S = 2.0  # after the deadline: ask the action to stop
GIVE_UP_AFTER_S = 5.0  # after asking: fail the task and free the slot
AGENT_CACHE_S = 2.0
WATCH_EVERY_S = 0.02  # how often to look for commits by other processes
LINGER_S = 0.002  # how long ended tasks wait for the running ones, to share a commit
# Run-ahead: when recent tasks were short, a pass claims more than the free slots, about
# RUN_AHEAD_S of work per slot (at most MAX_RUN_AHEAD tasks), so that one commit settles and
# claims many of them instead of two. Tasks that take RUN_AHEAD_S or longer get none: a claim is
# then exactly one task per free slot. A claimed task still waiting for a slot after
# GIVE_BACK_AFTER_S (the slots got stuck on long tasks) is given back to the queue.
RUN_AHEAD_S = 0.005
MAX_RUN_AHEAD = 256
GIVE_BACK_AFTER_S = 1.0
DURATION_WEIGHT = 0.2  # of the last task's duration in the running mean
CANCEL_CHECK_S = 0.1  # how often, at most, to look for cancel requests when something changed
SLOT_IDLE_S = 5.0  # a slot thread with nothing to run for this long ends
DATABASE_BACKOFF_S = (0.1, 5.0)  # after a database error: the first wait, doubled each time up to the second


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclasses.dataclass
class _Work:
    """A claimed task waiting for a slot: its running state, its kind and its agent's config."""

    running: RunningTask
    kind: AgentKind
    config: dict[str, Any]


class _Slot(QRunnable):
    """One unit of the pool's concurrency: runs claimed tasks one after another until there is
    nothing to run for a while (the dispatcher starts slots again when work comes)."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._pool = pool

    def run(self) -> None:
        self._pool._slot_loop()


class WorkerPool(QObject):
    """Runs queued tasks with their agents' actions.

    Signals:
        task_started(Task): a task was claimed and handed to a slot.
        task_progress(int, int, str): task id, percent, message.
        task_finished(Task): a task's attempt ended and is saved; its status says how
            (completed, failed, retrying, cancelled, or pending when it was given back).
        drained(): burst mode only: nothing runnable is left and nothing is running.
        failed(str): the database kept failing for longer than settings.database_retry_s; the
            pool stopped claiming and asked its actions to stop (`failure` holds the message).
        state_changed(str): "running", "stopping" or "stopped".
    """

    task_started = Signal(object)
    task_progress = Signal(int, int, str)
    task_finished = Signal(object)
    drained = Signal()
    failed = Signal(str)
    state_changed = Signal(str)

    def __init__(
        self,
        service: TaskQueueService,
        settings: Settings,
        *,
        worker_id: str | None = None,
        agents: list[str] | None = None,
        task_types: list[str] | None = None,
        kinds: dict[str, AgentKind] | None = None,
        burst: bool = False,
        output_dir: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        workspaces: Workspaces | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.agents = agents
        self.task_types = task_types  # only tasks with one of these task_type labels
        self.kinds = kinds if kinds is not None else load_kinds()
        self.burst = burst
        self.output_dir = output_dir
        self.workspaces = workspaces if workspaces is not None else WorkspaceRunner(service)  # repository tasks
        self._pruning: threading.Thread | None = None
        self._monotonic = monotonic  # the dispatcher's clock for its periodic passes (tests inject one)
        self._threads = QThreadPool(self)
        self._threads.setMaxThreadCount(settings.concurrency)
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)  # slots wait here for claimed tasks
        self._running: dict[int, RunningTask] = {}  # claimed and not yet settled
        self._ready: deque[_Work] = deque()  # claimed, not yet taken by a slot
        self._ended: list[Settlement] = []  # outcomes waiting for the next batch
        self._started: list[tuple[RunningTask, str, int]] = []  # programs started, to record (host, pgid)
        self._busy = 0  # tasks in _ready or in an action
        self._mean_duration_s: float | None = None  # of recent actions (a running mean); None: none yet
        self._flush_at = 1  # ended tasks that make the next pass worth its commit (see _pass)
        self._slots = 0  # slots started and not yet ended
        self._agents: dict[str, tuple[Agent, float]] = {}
        self._timeouts: dict[tuple[str, float | None], float] = {}  # (agent, task's own) -> seconds, with _agents
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._last_cancel_check = 0.0
        self._completed = self._failed = 0  # attempts this pool ended, for the roster
        self._cancel_check_due = False
        self.failure: str | None = None  # why the pool gave up on the database (see `failed`)
        self._started_signal = QMetaMethod.fromSignal(self.task_started)
        self._finished_signal = QMetaMethod.fromSignal(self.task_finished)
        self._started_heard = self._finished_heard = False  # see connectNotify

    def connectNotify(self, signal: QMetaMethod) -> None:
        """Note that someone listens to task_started or task_finished, so that the dispatcher
        builds and announces tasks only then (an unheard signal still costs microseconds).

        The dispatcher reads these flags rather than asking Qt's isSignalConnected: that call
        takes a Qt lock from the dispatcher thread, and a full test run deadlocked there, the
        dispatcher inside it and the GUI thread waiting for Python's GIL. Never unset: a signal
        nobody hears any more is only a wasted emit.
        """
        if signal == self._started_signal:
            self._started_heard = True
        elif signal == self._finished_signal:
            self._finished_heard = True

    # -- control ----------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._dispatcher is not None and self._dispatcher.is_alive()

    def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        if self.output_dir is not None:
            private_dir(self.output_dir)
        self.service.enqueued.connect(self._on_enqueued)
        try:
            self._report()  # in the roster from the start (the dispatcher's heartbeats keep it)
        except AgentQueueError as exc:
            log.error("worker %s: could not join the roster: %s", self.worker_id, exc)
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
        self._timeouts = {}  # the profile's default timeout may have changed
        self._threads.setMaxThreadCount(settings.concurrency)
        with self._work_ready:
            self._work_ready.notify_all()  # slots above a lowered concurrency end
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
        with self._work_ready:
            self._work_ready.notify_all()
        self._dispatcher.join()  # it settles what ended before it stopped (it may have ended: burst)
        self._dispatcher = None
        self._release_waiting()  # claimed but never started: give them back at once
        self._flush()
        self._wait_idle(grace)
        for running in self.running_tasks():
            running.stop(StopReason.SHUTDOWN)
        self._wait_idle(GIVE_UP_AFTER_S)
        for running in self.running_tasks():  # actions that ignored the request: release for them
            self._end(running, release(running))
        self._flush()
        # Slots forget their task just before their last signal: let them return, so no pool
        # thread is still in Python when the interpreter shuts down.
        self._threads.waitForDone(int(GIVE_UP_AFTER_S * 1000))
        self.service.enqueued.disconnect(self._on_enqueued)
        try:
            self.service.worker_stopped(self.worker_id)
        except AgentQueueError as exc:  # the database is down or full: the roster shows it gone later
            log.warning("worker %s: could not mark itself stopped in the roster: %s", self.worker_id, exc)
        self.state_changed.emit("stopped")
        log.info("worker %s stopped", self.worker_id)

    def running_tasks(self) -> list[RunningTask]:
        """The tasks this pool holds whose outcome is not decided yet."""
        with self._lock:
            return [r for r in self._running.values() if not r.abandoned]

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
            self._flush()
            watcher.close()

    def _dispatch(self, watcher: ChangeWatcher) -> None:
        # The maintenance passes run at start (a crashed worker's tasks are rescued and old tasks
        # removed as soon as the app opens), then every period.
        recover, cleanup, schedules = Every(RECOVER_EVERY_S), Every(CLEANUP_EVERY_S), Every(SCHEDULES_EVERY_S)
        budgets = Every(BUDGETS_EVERY_S)
        beat_every = min(self.settings.lease_s / 3, 2.0)
        beat = Every(beat_every)
        failing_since: float | None = None  # the database has failed every pass since then
        failures = 0
        recover_again: float | None = None  # sooner than `recover`: a dead worker's program is waited for
        while not self._stopping.is_set():
            self._wake.clear()
            now = self._monotonic()
            emptied = False
            try:
                if recover.due(now) or (recover_again is not None and now >= recover_again):
                    recover_again = now + RECOVER_WAITING_EVERY_S if self._recover() else None
                self._record_processes()
                if self.settings.retention_days > 0 and cleanup.due(now):
                    self._cleanup()
                if schedules.due(now):
                    self.service.fire_due_schedules()
                if budgets.due(now):
                    self._enforce_budgets()
                emptied = self._pass()
                self._give_back_stale()
                if beat.due(now):
                    self._heartbeat(beat_every)
                    self._report()
                self._enforce_timeouts()
            except (DatabaseFileError, DBAPIError) as exc:
                # A full disk, a lost server: outcomes stay queued in memory and are written when
                # the database works again; past database_retry_s the pool gives up.
                failing_since = now if failing_since is None else failing_since
                failures += 1
                if now - failing_since > self.settings.database_retry_s:
                    self._give_up(exc, now - failing_since)
                    return
                wait = min(DATABASE_BACKOFF_S[0] * 2 ** min(failures - 1, 16), DATABASE_BACKOFF_S[1])
                log.error("dispatcher: the database failed (%s); trying again in %.1f s", exc, wait)
                self._enforce_timeouts()
                self._stopping.wait(wait)
                continue
            except AgentQueueError as exc:
                log.error("dispatcher: %s", exc)
            except Exception:
                log.exception("dispatcher: unexpected error; retrying at the next poll")
            else:
                if failing_since is not None:
                    log.warning("dispatcher: the database works again after %.1f s", now - failing_since)
                failing_since, failures = None, 0
            if self.burst and emptied and self._idle_now():
                self.drained.emit()
                return
            if self._has_ended():
                self._linger()
            else:
                self._idle(min(self.settings.poll_interval_s, beat_every), watcher)

    def _give_up(self, exc: Exception, seconds: float) -> None:
        """The database failed for too long: stop the actions (their leases expire, so other
        workers take their tasks over) and say why."""
        with self._lock:
            held = len(self._running)  # running, or ended with the outcome not saved
        self.failure = (
            f"the database kept failing for {seconds:.0f} s (database_retry_s is "
            f"{self.settings.database_retry_s:g} s): {str(exc).rstrip('.')}; this worker stopped, and the "
            f"{held} tasks it held go back to the queue when their leases expire"
        )
        log.error("worker %s: %s", self.worker_id, self.failure)
        for running in self.running_tasks():
            running.stop(StopReason.SHUTDOWN)
        self.failed.emit(self.failure)

    def _pass(self) -> bool:
        """Settle every attempt that ended and claim a task per free slot, in one transaction,
        then announce both. True when the queue had fewer tasks to give than there were free
        slots (nothing more to run now)."""
        ahead = self._run_ahead()
        with self._lock:
            batch, self._ended = self._ended, []
            free = 0 if self._stopping.is_set() else self.settings.concurrency + ahead - self._busy
            self._flush_at = max(self.settings.concurrency, ahead // 2)
        if not batch and free <= 0:
            return False
        try:
            results, claims = self.service.settle_and_claim(
                batch, self.worker_id, max(free, 0), agents=self.agents, task_types=self.task_types,
                lease_s=self.settings.lease_s,
                tasks=self._finished_heard,  # no one listens: no Task to build
            )
        except Exception:  # the database failed: settle them at the next pass
            with self._lock:
                self._ended[:0] = batch
            raise
        self._announce(batch, results)
        self._hand_out(claims)
        if any(s.details and s.details.get("cost_usd") for s in batch):
            self._enforce_budgets()  # an agent that spent its day's budget claims no more
        return free > 0 and len(claims) < free

    def _run_ahead(self) -> int:
        """How many tasks to claim beyond the free slots: about RUN_AHEAD_S of work per slot at
        the recent tasks' mean duration; none until a task has ended, or when they take longer."""
        mean = self._mean_duration_s
        if mean is None or mean >= RUN_AHEAD_S:
            return 0
        return min(MAX_RUN_AHEAD, int(self.settings.concurrency * RUN_AHEAD_S / max(mean, 1e-6)))

    def _idle(self, seconds: float, watcher: ChangeWatcher) -> None:
        """Wait until woken (an enqueue, an ended task), for `seconds`, or, with a slot free,
        until another process changes the database (it may have enqueued work). Changes also
        bring cancel requests made elsewhere, e.g. `agentq cancel` from a terminal."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and (left := deadline - time.monotonic()) > 0:
            changed = watcher.changed()
            self._stop_cancelled(changed)
            if changed:
                with self._lock:
                    free = self._busy < self.settings.concurrency
                if free:
                    return
            self._wake.wait(min(WATCH_EVERY_S, left))

    def _linger(self) -> None:
        """Some tasks ended while others still run: wait a moment (LINGER_S at most) for those
        to end too, so that one commit settles them all (a batch completer's flush interval)."""
        deadline = time.monotonic() + LINGER_S
        while (left := deadline - time.monotonic()) > 0:
            self._wake.clear()
            with self._lock:
                if self._pass_due():
                    return
            self._wake.wait(left)

    def _pass_due(self) -> bool:
        """Whether ended tasks should be settled now rather than wait for more (the lock held):
        nothing else runs, or enough ended to make the commit worth it."""
        return self._busy == 0 or len(self._ended) >= self._flush_at or self._stopping.is_set()

    def _has_ended(self) -> bool:
        with self._lock:
            return bool(self._ended)

    def _idle_now(self) -> bool:
        with self._lock:
            return self._busy == 0 and not self._ended

    def _stop_cancelled(self, changed: bool) -> None:
        """After a change to the database, stop the tasks that were asked to cancel. Looked up at
        most every CANCEL_CHECK_S (this pool's own commits are changes too, many a second when it
        is busy); a change seen in between is looked up when the interval has passed."""
        self._cancel_check_due = self._cancel_check_due or changed
        now = time.monotonic()
        if not self._cancel_check_due or now - self._last_cancel_check < CANCEL_CHECK_S:
            return
        self._cancel_check_due = False
        self._last_cancel_check = now
        if not self.running_tasks():
            return
        for task_id in self.service.cancel_requests(self.worker_id):
            self.cancel_running(task_id)

    def _cleanup(self) -> None:
        """Delete finished tasks past the retention period (settings.retention_days), and prune
        their worktrees (in a thread of its own: git must not hold up the dispatcher)."""
        older_than = self.settings.retention_days * 86_400
        archive = Archive(paths.archive_dir()) if self.settings.archive else None
        deleted = self.service.cleaner(older_than, archive=archive).run_once(self.service.clock())
        if deleted:
            log.info("retention: %s %d tasks finished over %g days ago", "archived and deleted" if archive else "deleted",
                     deleted, self.settings.retention_days)
        if self._pruning is None or not self._pruning.is_alive():
            self._pruning = threading.Thread(
                target=self._prune_worktrees, args=(older_than,), name="agentq-prune", daemon=True
            )
            self._pruning.start()

    def _prune_worktrees(self, older_than_s: float) -> None:
        try:
            pruned = WorkspacePruner(self.service, older_than_s).run_once(self.service.clock())
        except Exception:
            log.exception("retention: pruning worktrees failed; trying again at the next pass")
            return
        removed = sum(p.result.removed for p in pruned)
        if removed:
            log.info("retention: removed %d worktrees of tasks finished over %g days ago", removed,
                     self.settings.retention_days)

    def _enforce_budgets(self) -> None:
        paused = self.service.enforce_budgets()
        if paused:
            log.warning("paused agents that spent their daily budget: %s", ", ".join(paused))

    def _recover(self) -> bool:
        """Recover expired leases; True while some wait for their old program to end."""
        recovered = self.service.recover_expired_leases(LOCAL_PROGRAMS)
        if recovered:
            log.warning("recovered %d tasks whose worker stopped renewing its lease: %s", len(recovered), recovered)
        return self.service.rescuer.waiting > 0

    def _record_processes(self) -> None:
        """Save the program each new attempt started (host, process group) on its task, so that
        recovery after this worker's death can wait for it."""
        with self._lock:
            started, self._started = self._started, []
        for index, (running, host, pgid) in enumerate(started):
            try:
                self.service.record_process(running.task.id, running.token, pid=pgid, host=host)
            except LeaseLostError:
                continue  # it ended (or was recovered) first
            except Exception:
                with self._lock:
                    self._started[:0] = started[index:]
                raise

    def _hand_out(self, claims: list[Claim]) -> None:
        """Queue claimed tasks for the slots (starting slots as needed), in one go."""
        if not claims:
            return
        prepared = [self._prepare(claim) for claim in claims]
        unrunnable = []
        with self._lock:
            for running, kind, config, error in prepared:
                self._running[running.task.id] = running
                if kind is None:
                    unrunnable.append((running, error))
                else:
                    self._ready.append(_Work(running, kind, config))
                    self._busy += 1
            new_slots = max(0, min(self.settings.concurrency, self._busy) - self._slots)
            self._slots += new_slots
            self._work_ready.notify(len(prepared))
        for running, error in unrunnable:
            log.error("task %s: %s", running.task.id, error)
            self._end(running, Settlement.fail(running.task.id, running.token, error))
        for _ in range(new_slots):
            self._threads.start(_Slot(self))
        if self._started_heard:
            for running, kind, _config, _error in prepared:
                if kind is not None:
                    self.task_started.emit(running.task)

    def _agent(self, name: str) -> Agent:
        """The agent's definition, cached for a moment: a busy pool runs many tasks per agent."""
        now = time.monotonic()
        cached = self._agents.get(name)
        if cached is None or now - cached[1] > AGENT_CACHE_S:
            cached = (self.service.get_agent(name), now)
            self._agents[name] = cached
            self._timeouts = {key: value for key, value in self._timeouts.items() if key[0] != name}
        return cached[0]

    def _timeout(self, task: Task, agent: Agent | None, kind: AgentKind | None) -> float:
        """The attempt's timeout (see attempt_timeout), kept with the agent's cached definition."""
        key = (task.agent, task.timeout_s)
        seconds = self._timeouts.get(key) if agent is not None else None
        if seconds is None:
            seconds = attempt_timeout(
                task_timeout_s=task.timeout_s, agent_timeout_s=agent.timeout_s if agent else None,
                config=agent.config if agent else None, kind=kind, profile_timeout_s=self.settings.timeout_s,
                profile=self.settings.profile,
            ).seconds
            if agent is not None:
                self._timeouts[key] = seconds
        return seconds

    def _prepare(self, claim: Claim) -> tuple[RunningTask, AgentKind | None, dict[str, Any], str]:
        """A claimed task's running state, its agent kind (None: it cannot run here, and why)."""
        task = claim.task
        agent: Agent | None
        error = ""
        try:
            agent = self._agent(task.agent)
        except AgentQueueError as exc:
            agent, kind, error = None, None, str(exc)
        else:
            kind = self.kinds.get(agent.kind)
            if kind is None:
                error = f"agent kind {agent.kind!r} is not installed on worker {self.worker_id}"
        timeout = self._timeout(task, agent, kind)
        ctx = TaskContext(task=task, timeout_s=timeout)
        running = RunningTask(task=task, token=claim.token, ctx=ctx, timeout_s=timeout)
        return running, kind, (agent.config if agent else {}), error

    def _connect(self, running: RunningTask) -> None:
        """Connect the context of a task about to run to the pool (its log file, progress and
        programs): done by the slot that runs it, so the dispatcher hands out claims sooner."""
        task, ctx = running.task, running.ctx
        # The folder is made 0700 at start; TaskContext.log creates the file 0600 on its first line.
        if self.output_dir is not None:
            ctx.log_path = self.output_dir / f"task-{task.id}.log"

        def on_progress(percent: int, message: str | None) -> None:
            running.progress = (percent, message)  # saved with the next heartbeat
            self.task_progress.emit(task.id, percent, message or "")

        def on_process(host: str, pgid: int) -> None:
            with self._lock:
                self._started.append((running, host, pgid))
            self._wake.set()

        ctx.on_progress = on_progress
        ctx.on_process = on_process

    @staticmethod
    def _disconnect(running: RunningTask) -> None:
        """The action has returned: drop the callbacks, which refer back to the running task, so
        that it is freed as soon as the pool forgets it instead of waiting for the collector."""
        running.ctx.on_progress = running.ctx.on_process = None

    def _heartbeat(self, beat_every: float) -> None:
        """Renew the leases of the tasks claimed at least `beat_every` ago (younger ones are still
        well within the lease they were claimed with: run-ahead claims many short ones)."""
        now = time.monotonic()
        for running in self.running_tasks():
            if now - running.claimed < beat_every:
                continue
            task = running.task
            percent, message = running.progress
            try:
                cancel = self.service.heartbeat(
                    task.id, running.token, lease_s=self.settings.lease_s,
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

    def _report(self) -> None:
        """Tell the roster this pool is alive, with its counts (a heartbeat of the pool itself)."""
        with self._lock:
            running, completed, failed = len(self._running), self._completed, self._failed
        self.service.worker_beat(Beat(
            self.worker_id, HOST, os.getpid(), self.settings.concurrency, self.settings.lease_s,
            running=running, completed=completed, failed=failed,
        ))

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for running in self.running_tasks():
            if now < running.deadline + TIMEOUT_GRACE_S:
                continue
            if running.stop_reason is None:
                log.warning("task %s: past its %g s timeout; stopping it", running.task.id, running.timeout_s)
                running.stop(StopReason.TIMEOUT)
            elif now >= running.deadline + TIMEOUT_GRACE_S + GIVE_UP_AFTER_S:
                # The action ignores the request to stop. Fail the task, and hand its slot and
                # thread to new work; the stuck thread leaves quietly when (if) the action returns.
                settlement = give_up(running)  # decides under the task's lock: only one side wins
                if settlement is None:
                    continue
                with self._lock:
                    self._busy -= 1
                    self._slots -= 1
                self._threads.releaseThread()
                self._end(running, settlement)

    def _end(self, running: RunningTask, settlement: Settlement | None, duration_s: float | None = None) -> None:
        """Queue an attempt's outcome for the next batch (None: dropped, just forget the task), and
        wake the dispatcher when it should settle: at the first outcome of a batch (it lingers a
        moment for more) and when the batch is due (see _pass_due), not at every one."""
        with self._lock:
            if duration_s is not None:
                mean = self._mean_duration_s
                self._mean_duration_s = duration_s if mean is None else mean + DURATION_WEIGHT * (duration_s - mean)
            if settlement is None:
                self._running.pop(running.task.id, None)
            else:
                self._ended.append(settlement)
            wake = len(self._ended) <= 1 or self._pass_due()
        if wake:
            self._wake.set()

    def _settle_ended(self) -> None:
        """Settle every ended attempt in one transaction, then announce them (on stop)."""
        with self._lock:
            batch, self._ended = self._ended, []
        if not batch:
            return
        try:
            results = self.service.settle_many(batch)
        except Exception:  # the database failed: try again later
            with self._lock:
                self._ended[:0] = batch
            raise
        self._announce(batch, results)

    def _announce(self, batch: list[Settlement], results: list[Task | int | AgentQueueError]) -> None:
        """Tell the window what the committed batch did; an outcome the queue refused (a result
        too big, say) comes back as a failure for the next batch."""
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
                self._running.pop(settlement.task_id, None)
                if not isinstance(result, AgentQueueError):
                    self._completed += settlement.outcome == "completed"
                    self._failed += settlement.outcome == "failed"
            self._ended.extend(refused)
        announce = self._finished_heard
        for settlement, result in settled:
            task_id = settlement.task_id
            if isinstance(result, LeaseLostError):
                log.warning("task %s: the lease was lost (recovered by another worker); outcome dropped", task_id)
            elif isinstance(result, AgentQueueError):
                log.error("task %s: its outcome could not be saved: %s", task_id, result)
            elif announce and isinstance(result, Task):
                self.task_finished.emit(result)

    def _flush(self) -> None:
        """Settle what ended, outside the dispatch loop (on stop)."""
        if self.failure is not None:
            return  # the pool gave up on the database
        for _ in range(2):  # a refused outcome comes back once, as a failure
            try:
                self._settle_ended()
            except (DatabaseFileError, DBAPIError) as exc:
                log.error("could not save the outcome of ended tasks (%s); their leases will expire", exc)
                return
            except Exception:
                log.exception("could not save the outcome of ended tasks; their leases will expire")
                return

    def _release_waiting(self, *, stale: bool = False) -> None:
        """Give back the claimed tasks no slot has started (settled at the next pass or flush):
        pending again, the attempt not counted; logged as interrupted at a shutdown, not logged
        when they are given back `stale` (see _give_back_stale)."""
        with self._lock:
            waiting = list(self._ready)
            self._ready.clear()
            self._busy -= len(waiting)
        for work in waiting:
            self._end(work.running, unstarted(work.running) if stale else release(work.running))

    def _give_back_stale(self) -> None:
        """Give back the claimed tasks that have waited GIVE_BACK_AFTER_S for a slot (run-ahead
        claimed them, then the slots got held up by long tasks), so that another worker may run
        them; and claim no more ahead until tasks end again."""
        with self._lock:
            if not self._ready or time.monotonic() - self._ready[0].running.claimed < GIVE_BACK_AFTER_S:
                return
            self._mean_duration_s = None
        log.info("giving back tasks that waited over %g s for a free slot", GIVE_BACK_AFTER_S)
        self._release_waiting(stale=True)

    # -- pool threads -----------------------------------------------------------------------

    def _slot_loop(self) -> None:
        while True:
            with self._work_ready:
                while not self._ready and not self._stopping.is_set() and self._slots <= self.settings.concurrency:
                    if not self._work_ready.wait(SLOT_IDLE_S):
                        break
                if not self._ready or self._stopping.is_set() or self._slots > self.settings.concurrency:
                    self._slots -= 1
                    self._wake.set()
                    return
                work = self._ready.popleft()
            running = work.running
            running.started = started = time.monotonic()  # its timeout counts from now, not from its claim
            try:
                self._connect(running)
                settlement = execute(running, work.kind, work.config, self.workspaces)
            except Exception:  # noqa: BLE001 - execute catches the action's errors; this is a bug
                log.exception("task %s: the worker failed around its action", running.task.id)
                settlement = None
            finally:
                self._disconnect(running)
            with running.lock:
                given_up = running.given_up
            if given_up:  # the dispatcher failed it and handed this slot on meanwhile
                self._threads.reserveThread()
                return
            with self._lock:
                self._busy -= 1
            self._end(running, settlement, time.monotonic() - started)

    def _wait_idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.02)
        self._flush()
