"""HistoryPanel: every task, filtered by status, agent and a (debounced) text search.

The count beside the search comes from the window's snapshot of the queue (the same numbers as
the tabs and the statistics); only a text search needs a count query of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import QueueStats, TaskQueueService, TaskStatus
from desktop.ui import task_queries as q
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import plural
from desktop.ui.task_columns import HISTORY_COLUMNS
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import SORT_EXPRESSIONS, SortOrder, TaskFilter
from desktop.ui.task_view import TaskTableView
from desktop.ui.toolbar import style_icon

SEARCH_DELAY_MS = 300
SEARCH_MIN_CHARS = 22  # the search box never gets narrower than this
UNFINISHED = tuple(s.value for s in TaskStatus if not s.is_finished)
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
        self._stats_total: int | None = None
        self._counting = False  # a count is on its way...
        self._count_again = False  # ...and another was asked for meanwhile

        self.status = QComboBox(self)
        self.status.setObjectName("historyStatus")
        self.status.setToolTip("Show tasks in this status")
        for label, statuses in STATUS_CHOICES:
            self.status.addItem(label, statuses)
        self.agent = QComboBox(self)
        self.agent.setObjectName("historyAgent")
        self.agent.setToolTip("Show the tasks of this agent")
        self.agent.addItem("All agents", None)
        self.agent.setMinimumContentsLength(10)
        self.agent.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.search = QLineEdit(self)
        self.search.setObjectName("historySearch")
        self.search.setPlaceholderText("Search id, agent, type, lock key, payload, error…")
        self.search.setToolTip("Matches the id, agent, type, lock key, payload (as the table shows it) "
                               "and last error (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(self.search.fontMetrics().averageCharWidth() * SEARCH_MIN_CHARS)
        self.count = QLabel("", self)
        self.count.setObjectName("historyCount")
        sp = QStyle.StandardPixmap
        self.first_button = self._tool_button(
            style_icon(self, sp.SP_ArrowUp, "go-top"),
            "Jump to the first task of this order, the newest when newest is first (Ctrl+Home)")
        self.last_button = self._tool_button(
            style_icon(self, sp.SP_ArrowDown, "go-bottom"),
            "Jump to the last task of this order, the oldest when newest is first (Ctrl+End)")
        self.refresh_button = self._tool_button(style_icon(self, sp.SP_BrowserReload, "view-refresh"),
                                                "Load the list again from the top (F5)")
        self.refresh_button.setShortcut("F5")
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)
        bar.addWidget(self.status)
        bar.addWidget(self.agent)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)
        for button in (self.first_button, self.last_button, self.refresh_button):
            bar.addWidget(button)

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
        self.first_button.clicked.connect(self.view.jump_to_start)
        self.last_button.clicked.connect(self.view.jump_to_end)
        self.model.loading_changed.connect(self._show_count)
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._show_count)

    def _tool_button(self, icon: object, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setIcon(icon)  # type: ignore[arg-type]
        button.setToolTip(tip)
        button.setAutoRaise(True)
        return button

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

    def set_stats(self, stats: QueueStats) -> None:
        """The snapshot's counts: the total for a status and agent filter is read off them; a text
        search is counted again when the queue changed."""
        flt = self.model.task_filter
        if flt.search:
            if stats.total != self._stats_total:
                self.count_tasks()
        elif flt.agent:
            counts = stats.by_agent.get(flt.agent, {})
            self._set_total(sum(counts.get(s, 0) for s in flt.statuses) if flt.statuses else sum(counts.values()))
        else:
            self._set_total(sum(stats.by_status.get(s, 0) for s in flt.statuses) if flt.statuses else stats.total)
        self._stats_total = stats.total

    def _set_total(self, count: int) -> None:
        if count != self.total:
            self.total = count
            self._show_count()
            self.count_changed.emit(count)

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
        """Count the tasks the filter shows; asked while a count runs, count again right after it."""
        if self._counting:
            self._count_again = True
            return
        flt, service = self.model.task_filter, self.service

        def finished(count: int | None) -> None:
            self._counting = False
            if count is not None and flt == self.model.task_filter:
                self._set_total(count)
            if self._count_again or flt != self.model.task_filter:
                self._count_again = False
                self.count_tasks()

        self._counting = self.jobs.read(lambda: q.count_tasks(service, flt), finished, lambda exc: finished(None),
                                        owner=self, name="history-count", priority=-1)

    def _show_count(self, *_: object) -> None:
        loaded = self.model.rowCount()
        if self.model.loading and not loaded:
            text = "loading…"
        elif self.total is None:
            text = f"{loaded:,} loaded"
        elif loaded >= self.total:
            text = plural(self.total, "task")
        else:
            text = f"{plural(self.total, 'task')} · {loaded:,} loaded"
        self.count.setText(text)
        self.count.setToolTip("Tasks matching the filter · rows read so far (scroll for more; Ctrl+End: the end)")

    # -- live -----------------------------------------------------------------------------------

    def refresh_live(self) -> None:
        """Merge new tasks at the top and re-read the rows on screen (with each snapshot)."""
        self.model.sync_head()
        self.model.refresh_rows(self.view.visible_ids())

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
