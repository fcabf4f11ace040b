"""Helpers for the tests that run repository tasks on a real worker pool (fixtures in conftest.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gitrepos import FAKES

from desktop.queue import Task, TaskQueueService, TaskStatus

FAKE_CLAUDE = [sys.executable, str(FAKES / "fake_claude.py")]
FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_finished(qtbot: Any, queue: TaskQueueService, *ids: int, timeout: int = 30_000) -> list[Task]:
    qtbot.waitUntil(lambda: all(queue.get(i).status in FINISHED for i in ids), timeout=timeout)
    return [queue.get(i) for i in ids]
