"""Running database calls off the GUI thread and handing their results back to it.

Reads and writes get separate thread pools, so a click on Pause never waits behind a slow
history query: reads run on two threads, UI-triggered writes on one (in the order they were
made). Results come back through a queued signal to an object living in the GUI thread, so
callbacks may touch widgets; a callback whose owner widget was deleted meanwhile is dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class _Relay(QObject):
    """Lives in the GUI thread; runs the callbacks the pool threads post to it.

    Signals:
        posted(object): a (callback, value, owner) triple to run in the GUI thread.
    """

    posted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run(self, item: tuple[Callable[[Any], None] | None, Any, QObject | None]) -> None:
        callback, value, owner = item
        if callback is None or (owner is not None and not shiboken6.isValid(owner)):
            return
        try:
            callback(value)
        except Exception:  # a bug in a callback must not take the window down
            log.exception("error in a background job's callback")


class _Job(QRunnable):
    def __init__(
        self,
        jobs: Jobs,
        fn: Callable[[], Any],
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
        owner: QObject | None,
        name: str,
    ) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._jobs, self._fn, self._name = jobs, fn, name
        self._on_result, self._on_error, self._owner = on_result, on_error, owner

    def run(self) -> None:
        jobs = self._jobs
        try:
            if jobs.closed:
                return
            try:
                value = self._fn()
            except Exception as exc:
                if not _is_user_error(exc):
                    log.exception("background job %s failed", self._name)
                if not jobs.closed:
                    jobs.relay.posted.emit((self._on_error or jobs.default_error, exc, self._owner))
                return
            if not jobs.closed:
                jobs.relay.posted.emit((self._on_result, value, self._owner))
        finally:
            jobs._done(self._name)


def _is_user_error(exc: BaseException) -> bool:
    from desktop.errors import AgentQueueError

    return isinstance(exc, AgentQueueError)


class Jobs(QObject):
    """Two small thread pools for database work started from the window.

    Attributes:
        default_error: called (in the GUI thread) for errors of jobs that give no on_error.
    """

    def __init__(self, parent: QObject | None = None, *, read_threads: int = 2) -> None:
        super().__init__(parent)
        self.relay = _Relay(self)
        self._reads = QThreadPool(self)
        self._reads.setMaxThreadCount(read_threads)
        self._writes = QThreadPool(self)
        self._writes.setMaxThreadCount(1)
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        self.closed = False
        self.default_error: ErrorCallback = lambda exc: None

    def read(
        self,
        fn: Callable[[], Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        *,
        owner: QObject | None = None,
        name: str = "read",
        skip_if_busy: bool = False,
        priority: int = 0,
    ) -> bool:
        """Run a query on a read thread. With `skip_if_busy`, do nothing (and return False) while
        a job of the same `name` is still running: polls never pile up behind a slow database.
        Queued jobs with a higher `priority` start first (the pause flag before a slow count)."""
        return self._submit(self._reads, fn, on_result, on_error, owner, name, skip_if_busy, priority)

    def write(
        self,
        fn: Callable[[], Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        *,
        owner: QObject | None = None,
        name: str = "write",
    ) -> bool:
        """Run a change on the write thread; writes run one at a time, in order."""
        return self._submit(self._writes, fn, on_result, on_error, owner, name, False, 0)

    def busy(self, name: str) -> bool:
        with self._lock:
            return self._busy.get(name, 0) > 0

    def _submit(
        self,
        pool: QThreadPool,
        fn: Callable[[], Any],
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
        owner: QObject | None,
        name: str,
        skip_if_busy: bool,
        priority: int,
    ) -> bool:
        if self.closed:
            return False
        with self._lock:
            if skip_if_busy and self._busy.get(name, 0):
                return False
            self._busy[name] = self._busy.get(name, 0) + 1
        pool.start(_Job(self, fn, on_result, on_error, owner, name), priority)
        return True

    def _done(self, name: str) -> None:
        with self._lock:
            self._busy[name] -= 1

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Wait for every queued job (tests and shutdown); True if all finished."""
        return self._writes.waitForDone(timeout_ms) and self._reads.waitForDone(timeout_ms)

    def close(self, timeout_ms: int = 10_000) -> None:
        """Drop queued jobs, wait for running ones, and deliver nothing more."""
        self.closed = True
        self._reads.clear()
        self._writes.clear()
        self.wait(timeout_ms)
