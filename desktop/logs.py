"""Logging: a rotating file in the user log folder plus stderr, every line tagged with its task.

The log folder is 0700 and the log files, rotated ones included, 0600: task lines can name
payloads and paths that are the user's business only.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop import paths
from desktop.errors import AgentQueueError
from desktop.private_files import private_dir, private_file

_current = threading.local()
FORMAT = "%(asctime)s %(levelname)-7s [task %(task_id)s] %(name)s: %(message)s"
LOG_NAME = "agentq.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


class LogFolderError(AgentQueueError):
    """The log folder or file cannot be written; the message names it and says what to do."""


class TaskIdFilter(logging.Filter):
    """Adds `task_id` to every record: the task the logging thread is running, or '-'."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.task_id = getattr(_current, "task_id", "-")
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (each new one after a rotation too) are created 0600."""

    def _open(self) -> io.TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


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
    """Configure the root logger once; returns the log file's path.

    Raises LogFolderError naming the folder when it cannot be created or written.
    """
    folder = log_dir or paths.log_dir()
    path = folder / LOG_NAME
    try:
        private_dir(folder)
        for old in folder.glob(LOG_NAME + "*"):  # logs and rotations written before they were private
            private_file(old)
        file_handler = PrivateRotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        raise LogFolderError(
            f"Cannot write the log folder {folder} ({exc.strerror or exc}). Make it writable by this user, "
            "or set AGENTQ_LOG_DIR to a folder you can write to."
        ) from exc
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_agentq", False):
            root.removeHandler(handler)
    handlers: list[logging.Handler] = [file_handler]
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
