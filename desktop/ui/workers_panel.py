"""The Workers tab: every worker pool the roster knows (this window's, `agentq worker` processes,
other hosts'), live, gone or stopped, read on a read thread every few seconds while it is shown."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from desktop import formatting
from desktop.queue import TaskQueueService, Worker
from desktop.ui.column_fit import ColumnFit
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import status_colour

REFRESH_MS = 2_000
# The process id is in the worker cell's tooltip (and in a pool's id); the times are ages, the
# moment in their tooltips: so the table fits a 1024 px window.
COLUMNS = ("Worker", "State", "Host", "Started", "Last seen", "At once", "Running", "Completed", "Failed")
COLUMN_TIPS = {5: "Concurrency: the tasks this worker runs at once"}
_STATE_COLOURS = {"live": "running", "gone": "failed", "stopped": "cancelled"}


class WorkersPanel(QWidget):
    """Signals:
        live_changed(int): how many workers are live (after each read)."""

    live_changed = Signal(int)

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.workers: list[Worker] = []
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("workersTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        for column, tip in COLUMN_TIPS.items():
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.fit = ColumnFit(self.table, (0,))  # the worker id: the rest of the width
        self.note = QLabel(
            "A worker is gone when it has not been seen for three lease periods (it died or hangs; its "
            "tasks go back to the queue when their leases expire).", self,
        )
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh_live)
        self._timer.start()

    def refresh_live(self) -> None:
        """Read the roster again (skipped while a read is on its way)."""
        self.jobs.read(self.service.workers, self.show_workers, owner=self, name="workers", skip_if_busy=True)

    def show_workers(self, workers: list[Worker]) -> None:
        self.workers = workers
        self.table.setRowCount(len(workers))
        for row, worker in enumerate(workers):
            cells = (
                worker.id, worker.state, worker.host, f"{formatting.age(worker.started_at)} ago",
                f"{formatting.age(worker.last_seen_at)} ago", str(worker.concurrency), str(worker.running),
                str(worker.completed), str(worker.failed),
            )
            tips = {0: f"{worker.id}\nprocess {worker.pid} on {worker.host}",
                    3: f"started {formatting.when(worker.started_at)}", 4: f"seen {formatting.when(worker.last_seen_at)}"}
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tips.get(column, text))
                if column >= 5:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                colour = status_colour(_STATE_COLOURS[worker.state]) if column == 1 else None
                if colour is not None:
                    item.setForeground(colour)
                self.table.setItem(row, column, item)
        self.fit.fit()
        self.live_changed.emit(sum(w.state == "live" for w in workers))
