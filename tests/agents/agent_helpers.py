"""Shared helpers for the agent kind tests: real Task values, contexts, process checks."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktop.agents.base import TaskContext
from desktop.queue.types import Task, TaskStatus


def make_task(payload: Any = None, *, timeout_s: float | None = None, task_id: int = 1) -> Task:
    """A running task as a worker would hand it to an agent kind."""
    now = datetime.now(UTC)
    return Task(
        id=task_id,
        agent="test-agent",
        payload=payload,
        priority=0,
        status=TaskStatus.RUNNING,
        scheduled_for=now,
        created_at=now,
        attempts=1,
        max_retries=3,
        retry_base_s=1.0,
        retry_cap_s=60.0,
        timeout_s=timeout_s,
        started_at=now,
    )


class Recorder:
    """Collects the progress reports a context sends."""

    def __init__(self) -> None:
        self.progress: list[tuple[int, str | None]] = []

    def __call__(self, percent: int, message: str | None) -> None:
        self.progress.append((percent, message))


def make_ctx(task: Task, *, timeout_s: float | None = None, log_path: Path | None = None) -> TaskContext:
    """A context for `task` recording progress in a Recorder (ctx.on_progress)."""
    return TaskContext(task=task, timeout_s=timeout_s, log_path=log_path, on_progress=Recorder())


def process_gone(pid: int) -> bool:
    """True once `pid` no longer runs (an unreaped zombie counts as gone)."""
    if Path("/proc/self").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        return stat[stat.rfind(")") + 2] in "ZX"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
