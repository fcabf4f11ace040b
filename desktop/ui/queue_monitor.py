"""QueueMonitor: keeps the window in step with the database: pause flag, statistics, agents.

It polls on the read threads (the pause flag every second, so a pause made from the CLI shows
up; a snapshot of statistics every two seconds) and sets the pause flag on the write thread.
A poll that was already on its way when the user toggled pause is ignored, so the toggle never
flickers back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.queue import Agent, QueueStats, TaskQueueService
from desktop.ui.jobs import Jobs

PAUSE_POLL_MS = 1000
SNAPSHOT_POLL_MS = 2000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the statistics and agents panels show, read in one go."""

    stats: QueueStats
    series: list[tuple[datetime, int, int]]
    agents: list[Agent]


class QueueMonitor(QObject):
    """Polls the queue's state off the GUI thread.

    Signals:
        paused_changed(bool): the whole queue's pause flag, as the database holds it.
        pause_polled(bool): a poll of the pause flag came back (and was not outdated).
        snapshot_ready(object): a new Snapshot.
        poll_failed(object): a poll raised this exception (the next poll tries again).
        write_failed(object): setting the pause flag failed with this exception.
    """

    paused_changed = Signal(bool)
    pause_polled = Signal(bool)
    snapshot_ready = Signal(object)
    poll_failed = Signal(object)
    write_failed = Signal(object)

    def __init__(
        self,
        service: TaskQueueService,
        jobs: Jobs,
        parent: QObject | None = None,
        *,
        pause_poll_ms: int = PAUSE_POLL_MS,
        snapshot_poll_ms: int = SNAPSHOT_POLL_MS,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.paused: bool | None = None
        self.snapshot: Snapshot | None = None
        self._generation = 0
        self._writes = 0
        self._pause_timer = QTimer(self)
        self._pause_timer.setInterval(pause_poll_ms)
        self._pause_timer.timeout.connect(self.poll_pause)
        self._snapshot_timer = QTimer(self)
        self._snapshot_timer.setInterval(snapshot_poll_ms)
        self._snapshot_timer.timeout.connect(self.poll_snapshot)

    def start(self) -> None:
        self._pause_timer.start()
        self._snapshot_timer.start()
        self.poll_pause()
        self.poll_snapshot()

    def stop(self) -> None:
        self._pause_timer.stop()
        self._snapshot_timer.stop()

    # -- pause ----------------------------------------------------------------------------------

    def poll_pause(self) -> None:
        if self._writes:
            return  # a read now could see the flag from before the write: wait for it
        generation, service = self._generation, self.service
        self.jobs.read(
            service.is_paused,
            lambda paused: self._on_paused(generation, paused),
            self.poll_failed.emit,
            owner=self,
            name="pause-poll",
            skip_if_busy=True,
            priority=2,
        )

    def _on_paused(self, generation: int, paused: bool) -> None:
        if generation != self._generation or self._writes:
            return  # read before the user's last toggle reached the database
        self._set(paused)
        self.pause_polled.emit(paused)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the whole queue; paused_changed follows once the database has it."""
        self._generation += 1
        self._writes += 1
        service = self.service

        def write() -> bool:
            (service.pause if paused else service.resume)()
            return paused

        def done(value: bool) -> None:
            self._writes -= 1
            if not self._writes:  # the last toggle of a quick series decides
                self._set(value)

        def failed(exc: BaseException) -> None:
            self._writes -= 1
            self.write_failed.emit(exc)
            self._generation += 1
            self.poll_pause()  # show what the database really holds

        self.jobs.write(write, done, failed, owner=self, name="pause")

    def _set(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self.paused_changed.emit(paused)

    # -- statistics -----------------------------------------------------------------------------

    def poll_snapshot(self) -> None:
        service = self.service

        def read() -> Snapshot:
            return Snapshot(service.stats(), service.throughput_series(60), service.list_agents())

        self.jobs.read(read, self._on_snapshot, self.poll_failed.emit, owner=self, name="snapshot", skip_if_busy=True)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.snapshot_ready.emit(snapshot)
