"""The pool's maintenance: the passes the dispatcher runs besides claiming and settling tasks.

Each pass is due at start (a crashed worker's tasks are rescued and old tasks removed as soon as
the app opens) and then every period, on the clock the dispatcher passes in (the pool's injected
one): lease rescue every RECOVER_EVERY_S (every RECOVER_WAITING_EVERY_S while a rescue waits for
a dead worker's program to end), retention cleanup every CLEANUP_EVERY_S (its worktree pruning in
a thread of its own, since git must not hold up the dispatcher), due schedules every
SCHEDULES_EVERY_S, and daily budgets every BUDGETS_EVERY_S. At every pass it also saves the
programs new attempts started (host, process group), so that a rescue after this worker's death
can wait for them. `Maintenance` holds the timers, the programs to save and the pruning thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from desktop import paths
from desktop.agents.supervise import LOCAL_PROGRAMS
from desktop.config import Settings
from desktop.errors import LeaseLostError
from desktop.queue import TaskQueueService
from desktop.queue.archive import Archive
from desktop.workers.execution import RunningTask
from desktop.workers.timers import Every
from desktop.workspaces.cleanup import WorkspacePruner

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 15.0
RECOVER_WAITING_EVERY_S = 1.0  # while recovery waits for a dead worker's program to end
SCHEDULES_EVERY_S = 1.0  # cron has minute resolution; this is how late a fire may start
CLEANUP_EVERY_S = 3600.0
BUDGETS_EVERY_S = 60.0  # also after each batch that settled costly attempts


class Maintenance:
    """Runs the maintenance passes that are due (see the module's docstring); dispatcher only,
    but for `program_started`, which the slots call."""

    def __init__(self, service: TaskQueueService, settings: Callable[[], Settings]) -> None:
        self.service = service
        self._settings = settings  # the pool's current settings (they may change while it runs)
        self.restart()
        self._lock = threading.Lock()
        self._started: list[tuple[RunningTask, str, int]] = []  # programs started, to record (host, pgid)
        self._pruning: threading.Thread | None = None

    def restart(self) -> None:
        """Make every pass due at once: the dispatcher starts (again)."""
        self._recover, self._cleanup = Every(RECOVER_EVERY_S), Every(CLEANUP_EVERY_S)
        self._schedules, self._budgets = Every(SCHEDULES_EVERY_S), Every(BUDGETS_EVERY_S)
        self._recover_again: float | None = None  # sooner than `_recover`: a dead worker's program is waited for

    def program_started(self, running: RunningTask, host: str, pgid: int) -> None:
        """A task's action started a program: save it at the next pass."""
        with self._lock:
            self._started.append((running, host, pgid))

    def run_due(self, now: float) -> None:
        """Run the passes due at `now`, and save the programs started since the last call."""
        if self._recover.due(now) or (self._recover_again is not None and now >= self._recover_again):
            self._recover_again = now + RECOVER_WAITING_EVERY_S if self._recover_leases() else None
        self._record_programs()
        if self._settings().retention_days > 0 and self._cleanup.due(now):
            self._clean_up()
        if self._schedules.due(now):
            self.service.fire_due_schedules()
        if self._budgets.due(now):
            self.enforce_budgets()

    def enforce_budgets(self) -> None:
        paused = self.service.enforce_budgets()
        if paused:
            log.warning("paused agents that spent their daily budget: %s", ", ".join(paused))

    def _recover_leases(self) -> bool:
        """Recover expired leases; True while some wait for their old program to end."""
        recovered = self.service.recover_expired_leases(LOCAL_PROGRAMS)
        if recovered:
            log.warning("recovered %d tasks whose worker stopped renewing its lease: %s", len(recovered), recovered)
        return self.service.rescuer.waiting > 0

    def _record_programs(self) -> None:
        """Save the program each new attempt started on its task (kept for the next pass if the
        database fails)."""
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

    def _clean_up(self) -> None:
        """Delete finished tasks past the retention period (settings.retention_days), and prune
        their worktrees in a thread of its own."""
        settings = self._settings()
        older_than = settings.retention_days * 86_400
        archive = Archive(paths.archive_dir()) if settings.archive else None
        deleted = self.service.cleaner(older_than, archive=archive).run_once(self.service.clock())
        if deleted:
            log.info("retention: %s %d tasks finished over %g days ago", "archived and deleted" if archive else "deleted",
                     deleted, settings.retention_days)
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
                     self._settings().retention_days)
