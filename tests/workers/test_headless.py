"""`agentq worker`'s loop: a stop signal is never lost, even one that arrives while it starts."""

from __future__ import annotations

import os
import signal

import pytest

from desktop.config import Settings
from desktop.queue import TaskQueueService
from desktop.workers import headless
from desktop.workers.pool import WorkerPool


@pytest.mark.timeout(30)
def test_a_sigterm_while_the_pool_starts_stops_the_worker(
    qapp: object, queue: TaskQueueService, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The signal lands before the event loop runs (a slow start: a cold disk, a keyring)."""
    monkeypatch.setenv("AGENTQ_DATA_DIR", str(tmp_path / "data"))
    start = WorkerPool.start

    def start_then_signal(pool: WorkerPool) -> None:
        start(pool)
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, before app.exec()

    monkeypatch.setattr(WorkerPool, "start", start_then_signal)
    assert headless.run_worker(queue, settings) == 0
