"""Filling a queue database with many finished tasks at once (raw sqlite3; a helper, not tests)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from desktop.queue import TaskQueueService

AGENTS = ("alpha", "beta", "gamma", "delta")


def with_history(queue: TaskQueueService, path: Path, count: int) -> TaskQueueService:
    """`queue` with the echo agents AGENTS and `count` finished tasks of theirs (a long history)."""
    for name in AGENTS:
        queue.add_agent(name, "echo")
    add_finished_rows(path, count)
    return queue


def add_finished_rows(
    path: Path, count: int, *, status: str = "completed", finished_at: float | None = None,
    agents: tuple[str, ...] = AGENTS,
) -> None:
    """Insert `count` finished tasks (the columns of benchmarks/engine.py), payload {"n": i},
    each with its one attempt (what statistics count) when it completed or failed.

    Without `finished_at` they finished a day ago, a second apart; with it, all at that time.
    """
    start = time.time() - 86_400
    rows = (
        (agents[i % len(agents)], f'{{"n":{i}}}', 1 + i % 5, status, start + i, start + i, start + i,
         finished_at if finished_at is not None else start + i + 0.5, 1, 3, 60.0, 3600.0, 100, 0)
        for i in range(count)
    )
    conn = sqlite3.connect(path)
    before = conn.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()[0]
    conn.executemany(
        "INSERT INTO tasks (agent, payload, priority, status, scheduled_for, created_at, started_at, "
        "finished_at, attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    if status in ("completed", "failed"):
        conn.execute(
            "INSERT INTO task_attempts (task_id, number, worker_id, started_at, finished_at, duration_ms, outcome) "
            "SELECT id, 1, 'bulk', started_at, finished_at, 500, status FROM tasks WHERE id > ?",
            (before,),
        )
    conn.commit()
    conn.close()
