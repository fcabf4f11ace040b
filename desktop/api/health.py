"""GET /health: whether the database answers, the queue's counts, polling and the workers."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.config import Settings
from desktop.queue import TaskQueueService, Worker

if TYPE_CHECKING:
    from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 5.0


def database_problem(service: TaskQueueService) -> str | None:
    """None when the database answers a new connection, else why not (no paths or passwords).

    A new connection, not a pooled one: on SQLite a pooled connection keeps reading a file that
    was deleted or replaced, while everything it writes is lost.
    """
    url = service.engine.url
    try:
        if url.get_backend_name() == "sqlite":
            path = Path(url.database or "").expanduser().resolve()
            if not path.exists():
                return "the database file is missing"
            fresh = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=PROBE_TIMEOUT_S)
            try:
                fresh.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                fresh.close()
        else:
            with service.engine.connect() as conn:
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"; the detail goes to the log
        log.warning("health: the database %s does not answer: %s", service.url, exc)
        return f"the database does not answer ({type(exc).__name__})"
    return None


def health(service: TaskQueueService, settings: Settings, pool: WorkerPool | None) -> tuple[int, dict[str, Any]]:
    """The HTTP status (200 or 503) and the body of GET /health."""
    problem = database_problem(service)
    stats = None
    if problem is None:
        try:
            stats = service.stats()
        except Exception as exc:  # noqa: BLE001 - as above
            log.warning("health: reading statistics failed: %s", exc)
            problem = f"the database does not answer ({type(exc).__name__})"
    body: dict[str, Any] = {
        "status": "healthy" if problem is None else "unhealthy",
        "service": "agent-queue",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    if problem is not None:
        body["reason"] = problem
    if stats is not None:
        # Attempts over all time (the attempt ledger): a retried failure stays counted, and
        # cleanup lowers nothing.
        body["stats"] = {
            "tasksProcessed": stats.processed,
            "tasksSucceeded": stats.succeeded,
            "tasksFailed": stats.failed,
            "successRate": stats.overall_success_rate,
            "lastProcessedAt": stats.last_finished_at.isoformat() if stats.last_finished_at else None,
        }
    current = pool.settings if pool is not None else settings
    body["polling"] = {
        "enabled": pool is not None and pool.is_running,
        "intervalMs": round(current.poll_interval_s * 1000),
        "maxTasksPerPoll": current.concurrency,
        "queuePaused": None if stats is None else stats.paused,
    }
    body["workers"] = [] if problem is not None else _workers(service)
    return (200 if problem is None else 503), body


def _workers(service: TaskQueueService) -> list[dict[str, Any]]:
    try:
        return [worker_json(w) for w in service.workers()]
    except Exception as exc:  # noqa: BLE001 - as above: the health answer still comes
        log.warning("health: reading the worker roster failed: %s", exc)
        return []


def worker_json(worker: Worker) -> dict[str, Any]:
    """A roster row as the API shows it (camelCase, like the rest of /health)."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "state": worker.state,
        "startedAt": worker.started_at.isoformat(),
        "lastSeenAt": worker.last_seen_at.isoformat(),
        "concurrency": worker.concurrency,
        "running": worker.running,
        "completed": worker.completed,
        "failed": worker.failed,
    }
