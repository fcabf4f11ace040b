"""The worker pool: claims tasks and runs their actions on a QThreadPool. QtCore only.

A dispatcher thread (plain Python, so the GUI thread never waits on the database) is the pool's
only writer. Each pass it settles, in one transaction, every attempt that ended since the last
pass (completer.py: a task's end is announced only once its batch has committed), claims in the
same transaction a task per free slot (and more when tasks are short: run_ahead.py), renews the
leases of running tasks and enforces their timeouts (task_watch.py), and runs the maintenance
passes (maintenance.py), each due at start and then every period; while the database fails it
backs off, and gives up past settings.database_retry_s (outage.py). Slots (slots.py) take the
claimed tasks from a hand-off queue, run their actions, and hand the outcome back; they never
touch the database. The dispatcher makes no Qt call but emitting signals and starting slots.
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

from PySide6.QtCore import QMetaMethod, QObject, QThreadPool, Signal
from sqlalchemy.exc import DBAPIError

from desktop.agents.base import AgentKind
from desktop.agents.registry import load_kinds
from desktop.config import Settings
from desktop.errors import AgentQueueError, DatabaseFileError
from desktop.private_files import private_dir
from desktop.queue import Beat, Claim, Settlement, Task, TaskQueueService
from desktop.queue.backends import ChangeWatcher
from desktop.queue.leases import HOST
from desktop.workers.agent_cache import AgentCache
from desktop.workers.completer import Completer
from desktop.workers.execution import RunningTask, StopReason, Workspaces, execute, release, unstarted
from desktop.workers.maintenance import Maintenance
from desktop.workers.outage import Outage, give_up_message
from desktop.workers.run_ahead import GIVE_BACK_AFTER_S, RunAhead
from desktop.workers.slots import Slots, Work
from desktop.workers.task_watch import GIVE_UP_AFTER_S, TaskWatch
from desktop.workers.timers import Every
from desktop.workspaces.task_runs import WorkspaceRunner

log = logging.getLogger(__name__)

WATCH_EVERY_S = 0.02  # how often to look for commits by other processes


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        self.burst = burst
        self.output_dir = output_dir
        self.workspaces = workspaces if workspaces is not None else WorkspaceRunner(service)  # repository tasks
        self._monotonic = monotonic  # the dispatcher's clock for its periodic passes (tests inject one)
        self._lock = threading.Lock()
        self._running: dict[int, RunningTask] = {}  # claimed and not yet settled
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self.failure: str | None = None  # why the pool gave up on the database (see `failed`)
        self._agent_cache = AgentCache(service, kinds if kinds is not None else load_kinds(), self.worker_id,
                                       lambda: self.settings)
        self._slots = Slots(QThreadPool(self), settings.concurrency, stopping=self._stopping, wake=self._wake,
                            run=self._run, ended=self._end)
        self._completer = Completer(service, wake=self._wake, stopping=self._stopping,
                                    busy=lambda: self._slots.busy, settled=self._settled)
        self._run_ahead = RunAhead()
        self._maintenance = Maintenance(service, lambda: self.settings)
        self._watch = TaskWatch(service, self.worker_id, running=self.running_tasks, cancel=self.cancel_running,
                                gave_up=self._gave_up)
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
        self._agent_cache.forget_timeouts()  # the profile's default timeout may have changed
        self._slots.resize(settings.concurrency)
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
        self._slots.wake_all()
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
        self._slots.wait_done(GIVE_UP_AFTER_S)
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
        self._maintenance.restart()  # its passes run at start, then every period
        beat_every = min(self.settings.lease_s / 3, 2.0)
        beat = Every(beat_every)
        outage = Outage()
        while not self._stopping.is_set():
            self._wake.clear()
            now = self._monotonic()
            emptied = False
            try:
                self._maintenance.run_due(now)
                emptied = self._pass()
                self._give_back_stale()
                if beat.due(now):
                    self._watch.heartbeat(beat_every, self.settings.lease_s)
                    self._report()
                self._watch.enforce_timeouts()
            except (DatabaseFileError, DBAPIError) as exc:
                # A full disk, a lost server: outcomes stay queued in memory and are written when
                # the database works again; past database_retry_s the pool gives up.
                lasted = outage.failed(now)
                if lasted > self.settings.database_retry_s:
                    self._give_up(exc, lasted)
                    return
                wait = outage.backoff_s()
                log.error("dispatcher: the database failed (%s); trying again in %.1f s", exc, wait)
                self._watch.enforce_timeouts()
                self._stopping.wait(wait)
                continue
            except AgentQueueError as exc:
                log.error("dispatcher: %s", exc)
            except Exception:
                log.exception("dispatcher: unexpected error; retrying at the next poll")
            else:
                outage.passed(now)
            if self.burst and emptied and self._slots.busy == 0 and not self._completer.pending():
                self.drained.emit()
                return
            if self._completer.pending():
                self._completer.linger()
            else:
                self._idle(min(self.settings.poll_interval_s, beat_every), watcher)

    def _give_up(self, exc: Exception, seconds: float) -> None:
        """The database failed for too long: stop the actions (their leases expire, so other
        workers take their tasks over) and say why."""
        with self._lock:
            held = len(self._running)  # running, or ended with the outcome not saved
        self.failure = give_up_message(exc, seconds, self.settings.database_retry_s, held)
        log.error("worker %s: %s", self.worker_id, self.failure)
        for running in self.running_tasks():
            running.stop(StopReason.SHUTDOWN)
        self.failed.emit(self.failure)

    def _pass(self) -> bool:
        """Settle every attempt that ended and claim a task per free slot, in one transaction,
        then announce both. True when the queue had fewer tasks to give than there were free
        slots (nothing more to run now)."""
        concurrency = self.settings.concurrency
        ahead = self._run_ahead.extra(concurrency)
        batch = self._completer.take(flush_at=max(concurrency, ahead // 2))
        free = 0 if self._stopping.is_set() else concurrency + ahead - self._slots.busy
        if not batch and free <= 0:
            return False
        try:
            results, claims = self.service.settle_and_claim(
                batch, self.worker_id, max(free, 0), agents=self.agents, task_types=self.task_types,
                lease_s=self.settings.lease_s,
                tasks=self._finished_heard,  # no one listens: no Task to build
            )
        except Exception:  # the database failed: settle them at the next pass
            self._completer.put_back(batch)
            raise
        self._completer.committed(batch, results)
        self._hand_out(claims)
        if any(s.details and s.details.get("cost_usd") for s in batch):
            self._maintenance.enforce_budgets()  # an agent that spent its day's budget claims no more
        return free > 0 and len(claims) < free

    def _idle(self, seconds: float, watcher: ChangeWatcher) -> None:
        """Wait until woken (an enqueue, an ended task), for `seconds`, or, with a slot free,
        until another process changes the database (it may have enqueued work). Changes also
        bring cancel requests made elsewhere, e.g. `agentq cancel` from a terminal."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and (left := deadline - time.monotonic()) > 0:
            changed = watcher.changed()
            self._watch.stop_cancelled(changed)
            if changed and self._slots.busy < self.settings.concurrency:
                return
            self._wake.wait(min(WATCH_EVERY_S, left))

    def _hand_out(self, claims: list[Claim]) -> None:
        """Queue claimed tasks for the slots (starting slots as needed), in one go; fail those
        that cannot run here."""
        if not claims:
            return
        prepared = [self._agent_cache.prepare(claim) for claim in claims]
        with self._lock:
            for p in prepared:
                self._running[p.running.task.id] = p.running
        self._slots.queue([Work(p.running, p.kind, p.config) for p in prepared if p.kind is not None])
        for p in prepared:
            if p.kind is None:
                log.error("task %s: %s", p.running.task.id, p.error)
                self._end(p.running, Settlement.fail(p.running.task.id, p.running.token, p.error))
        if self._started_heard:
            for p in prepared:
                if p.kind is not None:
                    self.task_started.emit(p.running.task)

    def _report(self) -> None:
        """Tell the roster this pool is alive, with its counts (a heartbeat of the pool itself)."""
        with self._lock:
            running = len(self._running)
        completed, failed = self._completer.counts()
        self.service.worker_beat(Beat(
            self.worker_id, HOST, os.getpid(), self.settings.concurrency, self.settings.lease_s,
            running=running, completed=completed, failed=failed,
        ))

    def _gave_up(self, running: RunningTask, settlement: Settlement) -> None:
        """The action ignores its stop past its timeout: hand its slot on, and fail the task."""
        self._slots.hand_on()
        self._end(running, settlement)

    def _settled(self, task_ids: list[int], finished: list[Task]) -> None:
        """A batch committed: forget its tasks and announce those that ended."""
        with self._lock:
            for task_id in task_ids:
                self._running.pop(task_id, None)
        if self._finished_heard:
            for task in finished:
                self.task_finished.emit(task)

    def _end(self, running: RunningTask, settlement: Settlement | None, duration_s: float | None = None) -> None:
        """Queue an attempt's outcome for the next batch (None: dropped, just forget the task)."""
        if duration_s is not None:
            self._run_ahead.ended(duration_s)
        if settlement is None:
            with self._lock:
                self._running.pop(running.task.id, None)
        self._completer.end(settlement)

    def _flush(self) -> None:
        """Settle what ended, outside the dispatch loop (on stop)."""
        if self.failure is None:  # else the pool gave up on the database
            self._completer.flush()

    def _release_waiting(self, *, stale: bool = False) -> None:
        """Give back the claimed tasks no slot has started (settled at the next pass or flush):
        pending again, the attempt not counted; logged as interrupted at a shutdown, not logged
        when they are given back `stale` (see _give_back_stale)."""
        for work in self._slots.take_waiting():
            self._end(work.running, unstarted(work.running) if stale else release(work.running))

    def _give_back_stale(self) -> None:
        """Give back the claimed tasks that have waited GIVE_BACK_AFTER_S for a slot (run-ahead
        claimed them, then the slots got held up by long tasks), so that another worker may run
        them; and claim no more ahead until tasks end again."""
        claimed = self._slots.oldest_claim()
        if claimed is None or not self._run_ahead.stale(claimed, time.monotonic()):
            return
        self._run_ahead.forget()
        log.info("giving back tasks that waited over %g s for a free slot", GIVE_BACK_AFTER_S)
        self._release_waiting(stale=True)

    # -- pool threads -----------------------------------------------------------------------

    def _run(self, work: Work) -> Settlement | None:
        """Run a claimed task's action in a slot (None: its outcome is dropped)."""
        running = work.running
        try:
            self._connect(running)
            return execute(running, work.kind, work.config, self.workspaces)
        except Exception:  # noqa: BLE001 - execute catches the action's errors; this is a bug
            log.exception("task %s: the worker failed around its action", running.task.id)
            return None
        finally:
            self._disconnect(running)

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
            self._maintenance.program_started(running, host, pgid)
            self._wake.set()

        ctx.on_progress = on_progress
        ctx.on_process = on_process

    @staticmethod
    def _disconnect(running: RunningTask) -> None:
        """The action has returned: drop the callbacks, which refer back to the running task, so
        that it is freed as soon as the pool forgets it instead of waiting for the collector."""
        running.ctx.on_progress = running.ctx.on_process = None

    def _wait_idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._slots.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        self._flush()
