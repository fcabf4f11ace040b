"""Logging: a rotating file in the user log folder plus stderr, every line tagged with its task."""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop import paths

_current = threading.local()
FORMAT = "%(asctime)s %(levelname)-7s [task %(task_id)s] %(name)s: %(message)s"


class TaskIdFilter(logging.Filter):
    """Adds `task_id` to every record: the task the logging thread is running, or '-'."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.task_id = getattr(_current, "task_id", "-")
        return True


@contextmanager
def task_logging(task_id: int) -> Iterator[None]:
    """Tag the log lines of this thread with `task_id` while the block runs."""
    previous = getattr(_current, "task_id", "-")
    _current.task_id = task_id
    try:
        yield
    finally:
        _current.task_id = previous


def setup_logging(level: str = "INFO", *, log_dir: Path | None = None, stderr: bool = True) -> Path:
    """Configure the root logger once; returns the log file's path."""
    folder = log_dir or paths.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "agentq.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_agentq", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
    ]
    if stderr:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._agentq = True  # type: ignore[attr-defined]
        handler.addFilter(TaskIdFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it narrates every start-up check
    return path
