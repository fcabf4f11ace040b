"""The pool's slots: QRunnables on a QThreadPool that run claimed tasks from a hand-off queue.

The dispatcher queues each claimed task (`Work`) here and starts as many slots as there is work,
up to the concurrency; a slot takes tasks one after another, runs each with the pool's `run`, and
hands the outcome to the pool's `ended`, never touching the database. A slot with nothing to run
for SLOT_IDLE_S, or above a lowered concurrency, ends. When the pool gives up on an action that
ignored its timeout, `hand_on` frees its slot for new work at once; the stuck slot, when its
action returns, sees `given_up` (under the task's lock, so the slot is freed exactly once) and
leaves without ending the task again. `Slots` holds the queue and the counts under one lock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRunnable, QThreadPool

from desktop.agents.base import AgentKind
from desktop.queue import Settlement
from desktop.workers.execution import RunningTask

SLOT_IDLE_S = 5.0  # a slot thread with nothing to run for this long ends


@dataclasses.dataclass
class Work:
    """A claimed task waiting for a slot: its running state, its kind and its agent's config."""

    running: RunningTask
    kind: AgentKind
    config: dict[str, Any]


class _Slot(QRunnable):
    """One unit of the pool's concurrency: runs claimed tasks one after another until there is
    nothing to run for a while (the dispatcher starts slots again when work comes)."""

    def __init__(self, slots: Slots) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._slots = slots

    def run(self) -> None:
        self._slots.run_slot()


class Slots:
    """The hand-off queue, the slots on `threads`, and how many tasks wait or run (`busy`)."""

    def __init__(
        self, threads: QThreadPool, concurrency: int, *, stopping: threading.Event, wake: threading.Event,
        run: Callable[[Work], Settlement | None], ended: Callable[[RunningTask, Settlement | None, float], None],
    ) -> None:
        self._threads = threads
        self._stopping, self._wake, self._run, self._ended = stopping, wake, run, ended
        self._lock = threading.Lock()
        self._work_ready = threading.Condition(self._lock)  # slots wait here for claimed tasks
        self._ready: deque[Work] = deque()  # claimed, not yet taken by a slot
        self._busy = 0  # tasks in _ready or in an action
        self._slots = 0  # slots started and not yet ended
        self.resize(concurrency)

    @property
    def busy(self) -> int:
        return self._busy

    def resize(self, concurrency: int) -> None:
        """Run at most `concurrency` tasks at once from now on (slots above it end)."""
        self._concurrency = concurrency
        self._threads.setMaxThreadCount(concurrency)
        self.wake_all()

    def wake_all(self) -> None:
        """Wake the waiting slots (to end, when the concurrency was lowered or the pool stops)."""
        with self._work_ready:
            self._work_ready.notify_all()

    def queue(self, works: list[Work]) -> None:
        """Queue claimed tasks for the slots, starting slots as needed, in one go."""
        with self._lock:
            self._ready.extend(works)
            self._busy += len(works)
            new_slots = max(0, min(self._concurrency, self._busy) - self._slots)
            self._slots += new_slots
            self._work_ready.notify(len(works))
        for _ in range(new_slots):
            self._threads.start(_Slot(self))

    def take_waiting(self) -> list[Work]:
        """Take back the queued tasks no slot has started."""
        with self._lock:
            waiting = list(self._ready)
            self._ready.clear()
            self._busy -= len(waiting)
        return waiting

    def oldest_claim(self) -> float | None:
        """When the task waiting longest for a slot was claimed (None: none waits)."""
        with self._lock:
            return self._ready[0].running.claimed if self._ready else None

    def hand_on(self) -> None:
        """The pool gave up on an action that ignores its stop: free its slot for new work."""
        with self._lock:
            self._busy -= 1
            self._slots -= 1
        self._threads.releaseThread()

    def wait_done(self, seconds: float) -> None:
        """Let the slots' threads return (so none is in Python when the interpreter shuts down)."""
        self._threads.waitForDone(int(seconds * 1000))

    def run_slot(self) -> None:
        """A slot's life: take tasks and run them until there is none for SLOT_IDLE_S."""
        while True:
            with self._work_ready:
                while not self._ready and not self._stopping.is_set() and self._slots <= self._concurrency:
                    if not self._work_ready.wait(SLOT_IDLE_S):
                        break
                if not self._ready or self._stopping.is_set() or self._slots > self._concurrency:
                    self._slots -= 1
                    self._wake.set()
                    return
                work = self._ready.popleft()
            running = work.running
            running.started = started = time.monotonic()  # its timeout counts from now, not from its claim
            settlement = self._run(work)
            with running.lock:
                given_up = running.given_up
            if given_up:  # the dispatcher failed it and handed this slot on meanwhile
                self._threads.reserveThread()
                return
            with self._lock:
                self._busy -= 1
            self._ended(running, settlement, time.monotonic() - started)
