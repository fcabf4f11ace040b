"""`agentq worker`: the worker pool in a QCoreApplication, stopped gracefully by SIGTERM/SIGINT.

`create_pool` is shared with `agentq serve`, which runs the same pool beside the HTTP API.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import sys
from typing import Any

from PySide6.QtCore import QCoreApplication, QTimer

from desktop import paths
from desktop.config import Settings
from desktop.queue import TaskQueueService
from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)


def create_pool(
    service: TaskQueueService,
    settings: Settings,
    *,
    concurrency: int | None = None,
    poll_interval_s: float | None = None,
    agents: list[str] | None = None,
    task_types: list[str] | None = None,
    worker_id: str | None = None,
    burst: bool = False,
    grace_s: float | None = None,
) -> WorkerPool:
    """A headless pool with the settings overridden by the options given (a QCoreApplication must exist)."""
    changes: dict[str, Any] = {}
    if concurrency is not None:
        changes["concurrency"] = concurrency
    if poll_interval_s is not None:
        changes["poll_interval_s"] = poll_interval_s
    if grace_s is not None:
        changes["shutdown_grace_s"] = grace_s
    settings = dataclasses.replace(settings, **changes).validate()
    return WorkerPool(
        service, settings, worker_id=worker_id, agents=agents, task_types=task_types, burst=burst,
        output_dir=paths.data_dir() / "task-logs",
    )


def run_worker(service: TaskQueueService, settings: Settings, **options: Any) -> int:
    """Run until a signal (or, with `burst`, until nothing is left to run). Returns the exit code.

    `options` are create_pool's.
    """
    app = QCoreApplication.instance() or QCoreApplication([])
    pool = create_pool(service, settings, **options)
    pool.drained.connect(app.quit)
    pool.failed.connect(app.quit)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        # Queued, not app.quit(): a signal that arrives while the pool starts, before the event
        # loop runs, must still stop it (quit() before exec() does nothing).
        QTimer.singleShot(0, app.quit)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    # Python runs signal handlers only when it holds the interpreter: tick so Qt lets it in.
    ticker = QTimer()
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    # What start-up made (modules, SQLAlchemy's tables, Qt's wrappers) lives until exit: frozen,
    # the collector no longer scans it at each full pass, which a busy pool's tasks set off every
    # second or so (a quarter of a no-op drain's CPU time).
    gc.freeze()
    pool.start()
    try:
        app.exec()
    finally:
        ticker.stop()
        pool.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pool.failure is not None:
        print(f"agentq: error: {pool.failure}", file=sys.stderr)
        return 1
    return 0
