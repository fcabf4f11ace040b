"""QueueMonitor: keeps the window in step with the database: pause flag, statistics, agents.

It polls on the read threads (the pause flag every second, so a pause made from the CLI shows
up; a snapshot every two seconds, and soon after each change the window asks for) and sets the
pause flag on the write thread. A poll that was already on its way when the user toggled pause
is ignored, so the toggle never flickers back. A snapshot asked for while one is being read is
read again right after it, so the last change is never left out.

A Snapshot is everything the window shows as counts: the tabs, the status bar, the agents table
and the Running table are all drawn from one, so they always agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.queue import Agent, Ledger, QueueStats, Task, TaskQueueService
from desktop.ui import task_queries as q
from desktop.ui.jobs import Jobs

PAUSE_POLL_MS = 1000
SNAPSHOT_POLL_MS = 2000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the window shows as counts, read in one go.

    `tag` is the value of QueueMonitor.tag() when the read started: changes the window learnt
    before then are in it. `series` is the throughput of `chart_range`, `costs` the cost ledger.
    """

    stats: QueueStats
    series: list[tuple[datetime, int, int]]
    agents: list[Agent]
    running: list[Task]
    chart_range: q.ChartRange
    tag: int = 0
    costs: Ledger = dataclasses.field(default_factory=lambda: Ledger([], [], []))

    @property
    def waiting(self) -> int:
        """Tasks that would run if the queue were not paused (pending, retrying, blocked)."""
        by_status = self.stats.by_status
        return by_status.get("pending", 0) + by_status.get("retrying", 0) + by_status.get("blocked", 0)


def _running_by_agent(running: list[Task]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in running:
        counts[task.agent] = counts.get(task.agent, 0) + 1
    return counts


def _agrees(stats: QueueStats, running: list[Task]) -> bool:
    """True if the counts saw the running tasks the list holds (total and per agent)."""
    if len(running) >= q.RUNNING_LIMIT:
        return True  # the list is cut short: the counts alone are exact
    counted = {agent: n for agent, counts in stats.by_agent.items() if (n := counts.get("running", 0))}
    return stats.by_status.get("running", 0) == len(running) and counted == _running_by_agent(running)


def with_running(stats: QueueStats, running: list[Task]) -> QueueStats:
    """`stats` with its running counts taken from the list of running tasks read just after it
    (when a task started or ended in between), so the rows and every running count agree."""
    if _agrees(stats, running):
        return stats
    by_agent = {agent: {k: v for k, v in counts.items() if k != "running"} for agent, counts in stats.by_agent.items()}
    for agent, count in _running_by_agent(running).items():
        by_agent.setdefault(agent, {})["running"] = count
    return dataclasses.replace(stats, by_status=dict(stats.by_status, running=len(running)), by_agent=by_agent)


def read_snapshot(
    service: TaskQueueService, chart_range: q.ChartRange, series: list[tuple[datetime, int, int]] | None, tag: int
) -> Snapshot:
    """Read a snapshot (on a read thread); `series` given is reused instead of read again."""
    stats = service.stats()
    running = q.running_tasks(service)
    agents = service.list_agents()
    if series is None:
        series = q.throughput(service, chart_range)
    return Snapshot(with_running(stats, running), series, agents, running, chart_range, tag, service.ledger())


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
        self.chart_range = q.CHART_RANGES["hour"]
        self.tag: Callable[[], int] = lambda: 0
        self._reading = False  # a snapshot read is on its way
        self._again = False  # ...and another was asked for meanwhile
        self._polls = 0
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

    def set_chart_range(self, chart_range: q.ChartRange) -> None:
        """Read the chart's series for `chart_range` from now on, starting at once."""
        self.chart_range = chart_range
        self.poll_snapshot()

    def poll_snapshot(self) -> None:
        """Read a snapshot now, or right after the one being read."""
        if self._reading:
            self._again = True
            return
        service, chart_range, tag = self.service, self.chart_range, self.tag()
        last = self.snapshot
        keep = last is not None and last.chart_range == chart_range and self._polls % chart_range.every
        series = last.series if keep and last is not None else None
        self._polls += 1
        self._reading = self.jobs.read(lambda: read_snapshot(service, chart_range, series, tag),
                                       self._on_snapshot, self._on_error, owner=self, name="snapshot")

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self._reading = False
        self.snapshot = snapshot
        self.snapshot_ready.emit(snapshot)
        self._poll_again()

    def _on_error(self, exc: BaseException) -> None:
        self._reading = False
        self.poll_failed.emit(exc)
        self._poll_again()

    def _poll_again(self) -> None:
        if self._again:
            self._again = False
            self.poll_snapshot()
