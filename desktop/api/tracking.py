"""Which of an enqueue's tasks were really added, and which already existed (a matching unique key).

The service returns the existing task for a unique key it already holds unfinished; its
`enqueued` signal, sent in the caller's thread after the commit, lists only the new ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from desktop.queue import Task, TaskQueueService


class InsertedTasks:
    """Collects, per thread, the ids of the tasks the service's enqueues in a `track()` block added."""

    def __init__(self, service: TaskQueueService) -> None:
        self._local = threading.local()
        service.enqueued.connect(self._on_enqueued)

    def _on_enqueued(self, tasks: list[Task]) -> None:
        ids: set[int] | None = getattr(self._local, "ids", None)
        if ids is not None:
            ids.update(t.id for t in tasks)

    @contextmanager
    def track(self) -> Iterator[set[int]]:
        """A set that fills with the ids of the tasks added in this thread during the block."""
        ids: set[int] = set()
        self._local.ids = ids
        try:
            yield ids
        finally:
            self._local.ids = None
