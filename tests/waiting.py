"""Waiting in tests on a condition with a deadline, never for a fixed time (see tests/conftest.py's
FakeClock for time itself). Qt tests may use qtbot.waitUntil instead; this one needs no event loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from desktop.queue import TaskQueueService

POLL_S = 0.01


def wait_until(condition: Callable[[], object], limit: float, what: str) -> float:
    """Poll `condition` until it is true; return the seconds it took, or fail naming `what` after
    `limit` seconds."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit, f"{what}: not within {limit:g} s"
        time.sleep(POLL_S)
    return time.monotonic() - start


def last_report(service: TaskQueueService, worker_id: str) -> datetime | None:
    """When the worker pool last wrote its roster row: at its start, then at the end of a dispatcher
    pass (every heartbeat), right before the dispatcher idles."""
    return next((w.last_seen_at for w in service.workers() if w.id == worker_id), None)


def first_pass_done(service: TaskQueueService, worker_id: str) -> bool:
    """Whether the pool's dispatcher has made its first pass and idles now (it reported after the
    pool's start did)."""
    worker = next((w for w in service.workers() if w.id == worker_id), None)
    return worker is not None and worker.last_seen_at > worker.started_at
