"""HistoryPanel: every task, filtered by status, agent and a (debounced) text search."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.jobs import Jobs
from desktop.ui.task_columns import HISTORY_COLUMNS
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import SORT_EXPRESSIONS, SortOrder, TaskFilter
from desktop.ui.task_view import TaskTableView

SEARCH_DELAY_MS = 300
COUNT_EVERY_TICKS = 5
UNFINISHED = ("pending", "blocked", "running", "retrying")
STATUS_CHOICES: list[tuple[str, tuple[str, ...] | None]] = [
    ("All statuses", None),
    ("Unfinished", UNFINISHED),
    *[(s.value.capitalize(), (s.value,)) for s in TaskStatus],
]


class HistoryPanel(QWidget):
    """Signals:
        count_changed(int): how many tasks match the filter (read after each filter change).
    """

    count_changed = Signal(int)

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.total: int | None = None
        self._ticks = 0

        self.status = QComboBox(self)
        self.status.setObjectName("historyStatus")
        for label, statuses in STATUS_CHOICES:
            self.status.addItem(label, statuses)
        self.agent = QComboBox(self)
        self.agent.setObjectName("historyAgent")
        self.agent.addItem("All agents", None)
        self.agent.setMinimumContentsLength(12)
        self.search = QLineEdit(self)
        self.search.setObjectName("historySearch")
        self.search.setPlaceholderText("Search id, agent, type, lock key, payload, error…")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel("", self)
        self.refresh_button = QToolButton(self)
        self.refresh_button.setText("Refresh")
        self.refresh_button.setToolTip("Load the list again from the top (F5)")
        self.refresh_button.setShortcut("F5")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("&Status:", self, buddy=self.status))
        bar.addWidget(self.status)
        bar.addWidget(QLabel("A&gent:", self, buddy=self.agent))
        bar.addWidget(self.agent)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        bar.addWidget(self.refresh_button)

        self.model = TaskTableModel(service, jobs, HISTORY_COLUMNS, parent=self)
        self.view = TaskTableView(self.model, self, hidden=("started_at",))
        self.view.setObjectName("historyTable")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(self._debounce.start)
        self.status.currentIndexChanged.connect(self.apply_filter)
        self.agent.currentIndexChanged.connect(self.apply_filter)
        self.refresh_button.clicked.connect(self.reload)
        self.model.loading_changed.connect(self._show_count)
        self.model.page_loaded.connect(lambda _n: self._show_count())

    # -- filter ---------------------------------------------------------------------------------

    def current_filter(self) -> TaskFilter:
        statuses = self.status.currentData()
        return TaskFilter(
            tuple(statuses) if statuses else None,
            self.agent.currentData() or None,
            self.search.text().strip() or None,
        )

    def apply_filter(self) -> None:
        self._debounce.stop()
        flt = self.current_filter()
        if flt == self.model.task_filter and self.model.started:
            return
        self.model.configure(flt=flt)
        self.model.refresh()
        self.total = None
        self.count_tasks()

    def reload(self) -> None:
        self.model.refresh()
        self.count_tasks()

    def set_agents(self, names: Sequence[str]) -> None:
        """Offer these agents in the filter, keeping the chosen one (even if it is gone)."""
        current = self.agent.currentData()
        wanted = list(names)
        if current and current not in wanted:
            wanted.append(current)
        present = [self.agent.itemData(i) for i in range(1, self.agent.count())]
        if present == wanted:
            return
        blocked = self.agent.blockSignals(True)
        self.agent.clear()
        self.agent.addItem("All agents", None)
        for name in wanted:
            self.agent.addItem(name, name)
        index = self.agent.findData(current) if current else 0
        self.agent.setCurrentIndex(max(0, index))
        self.agent.blockSignals(blocked)

    def count_tasks(self) -> None:
        flt, service = self.model.task_filter, self.service
        statuses, agent, search = flt.service_args()

        def done(count: int) -> None:
            if flt == self.model.task_filter:
                self.total = count
                self._show_count()
                self.count_changed.emit(count)
            else:
                self.count_tasks()  # the filter changed while this count ran (and others were skipped)

        self.jobs.read(lambda: service.count_tasks(statuses, agent, search), done, lambda exc: None,
                       owner=self, name="history-count", skip_if_busy=True, priority=-1)

    def _show_count(self, *_: object) -> None:
        loaded = self.model.rowCount()
        if self.model.loading and not loaded:
            self.count.setText("loading…")
        elif self.total is None:
            self.count.setText(f"{loaded:,} loaded")
        else:
            self.count.setText(f"{self.total:,} tasks · {loaded:,} loaded")

    # -- live -----------------------------------------------------------------------------------

    def refresh_live(self) -> None:
        """Merge new tasks at the top and re-read the rows on screen (call every few seconds)."""
        self.model.sync_head()
        self.model.refresh_rows(self.view.visible_ids())
        self._ticks += 1
        if self._ticks % COUNT_EVERY_TICKS == 0:
            self.count_tasks()

    # -- state ----------------------------------------------------------------------------------

    def save_state(self, store: QSettings) -> None:
        store.setValue("history/status", self.status.currentText())
        store.setValue("history/agent", self.agent.currentData() or "")
        store.setValue("history/search", self.search.text())
        store.setValue("history/header", self.view.horizontalHeader().saveState())
        store.setValue("history/sort", f"{self.model.order.column}:{int(self.model.order.descending)}")

    def restore_state(self, store: QSettings) -> None:
        """Put back the filters, columns and sort order (before the first load)."""
        for widget in (self.status, self.agent, self.search):
            widget.blockSignals(True)
        try:
            index = self.status.findText(str(store.value("history/status", "")))
            if index >= 0:
                self.status.setCurrentIndex(index)
            agent = str(store.value("history/agent", "") or "")
            if agent:
                self.set_agents([agent])
                self.agent.setCurrentIndex(max(0, self.agent.findData(agent)))
            self.search.setText(str(store.value("history/search", "") or ""))
            header = self.view.horizontalHeader()
            state = store.value("history/header")
            if state is not None:
                blocked = header.blockSignals(True)  # restoring must not start a sort (a load)
                header.restoreState(state)
                header.blockSignals(blocked)
            column, _, descending = str(store.value("history/sort", "id:1")).partition(":")
            if column in SORT_EXPRESSIONS:
                self.model.configure(order=SortOrder(column, descending != "0"))
        finally:
            for widget in (self.status, self.agent, self.search):
                widget.blockSignals(False)
        self.model.configure(flt=self.current_filter())
        self.view.sync_sort_indicator()
