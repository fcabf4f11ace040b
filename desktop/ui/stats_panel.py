"""StatsPanel: counts per status, wait and run times, success rate, attempts over all time, the
throughput chart, and the cost per agent and repository.

Every value sits in a label of a fixed width, wide enough for large numbers, so new numbers never
change the panel's size hints: the splitter beside it does not move as the statistics change.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import Ledger, QueueStats, TaskStatus
from desktop.ui.cost_table import CostTable
from desktop.ui.status_style import seconds_text, status_colour
from desktop.ui.task_queries import CHART_RANGES, ChartRange, Series
from desktop.ui.throughput_chart import ThroughputChart

STATUS_ORDER = (
    TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.BACKLOGGED, TaskStatus.RUNNING, TaskStatus.RETRYING,
    TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED,
)


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:  # unchanged labels are not repainted
        label.setText(text)


def _value_label(parent: QWidget, widest: str, name: str = "") -> QLabel:
    """A right-aligned value whose width is fixed to fit `widest`, whatever it shows."""
    label = QLabel("–", parent)
    if name:
        label.setObjectName(name)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    label.setFixedWidth(label.fontMetrics().horizontalAdvance(widest) + 4)
    label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
    return label


class StatsPanel(QWidget):
    """Live queue statistics; update_stats() changes only the labels whose text changed.

    Signals:
        range_changed(object): the user chose another ChartRange for the chart.
    """

    range_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        counts = self.count_grid = QGridLayout()
        counts.setHorizontalSpacing(6)
        counts.setVerticalSpacing(2)
        self.counts: dict[str, QLabel] = {}
        self.dots: dict[str, QLabel] = {}
        per_column = (len(STATUS_ORDER) + 2) // 2  # two columns: the statuses, then the total

        def cell(i: int) -> tuple[int, int]:
            return i % per_column, (i // per_column) * 3

        for i, status in enumerate(STATUS_ORDER):
            row, col = cell(i)
            dot = QLabel("●", self)
            name = QLabel(status.value, self)
            value = _value_label(self, "0,000,000", f"count_{status.value}")
            counts.addWidget(dot, row, col)
            counts.addWidget(name, row, col + 1)
            counts.addWidget(value, row, col + 2)
            self.counts[status.value] = value
            self.dots[status.value] = dot
        self.total = _value_label(self, "0,000,000", "count_total")
        row, col = cell(len(STATUS_ORDER))
        counts.addWidget(QLabel("total", self), row, col + 1)
        counts.addWidget(self.total, row, col + 2)
        counts.setColumnMinimumWidth(3, 18)
        counts.setColumnStretch(6, 1)

        rates = QGridLayout()
        rates.setHorizontalSpacing(6)
        rates.setVerticalSpacing(2)
        self.avg_wait = _value_label(self, "23 h 59 m")
        self.avg_run = _value_label(self, "23 h 59 m")
        self.success = _value_label(self, "100.0%")
        self.throughput = _value_label(self, "000,000 / h")
        self.succeeded = _value_label(self, "0,000,000,000", "attempts_succeeded")
        self.failed = _value_label(self, "0,000,000,000", "attempts_failed")
        hour = "tasks finished in the last hour"
        kept = "all time: a retry keeps its failure counted, and cleanup lowers nothing"
        for i, (title, label, tip) in enumerate((
            ("Average wait", self.avg_wait, f"From due to started, {hour}"),
            ("Average run", self.avg_run, f"From started to finished, {hour}"),
            ("Success rate", self.success, "Succeeded / (succeeded + failed) attempts in the last hour"),
            ("Completed", self.throughput, "Attempts that completed in the last hour"),
            ("Succeeded", self.succeeded, f"Attempts that completed, {kept}"),
            ("Failed", self.failed, f"Attempts that failed, timed out or lost their worker, {kept}"),
        )):
            name = QLabel(title, self)
            name.setToolTip(tip)
            label.setToolTip(tip)
            rates.addWidget(name, i // 2, (i % 2) * 3)
            rates.addWidget(label, i // 2, (i % 2) * 3 + 1)
        rates.setColumnMinimumWidth(2, 18)
        rates.setColumnStretch(5, 1)

        self.chart = ThroughputChart(self)
        self.range_buttons = QButtonGroup(self)
        chooser = QHBoxLayout()
        chooser.setContentsMargins(0, 0, 0, 0)
        chooser.setSpacing(0)
        chooser.addWidget(self.chart.legend, 1)
        for chart_range in CHART_RANGES.values():
            button = QToolButton(self)
            button.setObjectName(f"range_{chart_range.key}")
            button.setText(chart_range.title)
            button.setToolTip(f"Show the last {chart_range.description}")
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.clicked.connect(lambda _on=False, r=chart_range: self.set_range(r, notify=True))
            self.range_buttons.addButton(button)
            chooser.addWidget(button)
        self.costs = CostTable(self)
        self.cost_button = QToolButton(self)
        self.cost_button.setObjectName("show_costs")
        self.cost_button.setText("Cost")
        self.cost_button.setToolTip("Show what agents cost today and over the last 7 days, per agent and repository")
        self.cost_button.setCheckable(True)
        self.cost_button.setAutoRaise(True)
        self.cost_button.clicked.connect(self.show_costs)
        chooser.addWidget(self.cost_button)
        self.chart_range = CHART_RANGES["hour"]
        self._check_range()
        # The chart and the cost table take turns in one place: the panel's size never depends on which.
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.chart)
        self.pages.addWidget(self.costs)

        layout = QVBoxLayout(self)
        layout.addLayout(counts)
        layout.addLayout(rates)
        layout.addLayout(chooser)
        layout.addWidget(self.pages, 1)
        self._colour_dots()

    def show_costs(self, shown: bool = True) -> None:
        """Show the cost table in the chart's place (or the chart again)."""
        self.cost_button.setChecked(shown)
        self.pages.setCurrentWidget(self.costs if shown else self.chart)
        self._check_range()

    def set_range(self, chart_range: ChartRange, *, notify: bool = False) -> None:
        """Show `chart_range` (hour, day, week) on the chart; with `notify`, say so (a new series
        is needed)."""
        self.chart_range = chart_range
        self.show_costs(False)
        self.chart.setToolTip(f"Completed and failed tasks over the last {chart_range.description}")
        if notify:
            self.range_changed.emit(chart_range)

    def _check_range(self) -> None:
        charted = not self.cost_button.isChecked()
        self.range_buttons.setExclusive(charted)  # while the costs show, no range is checked
        for button in self.range_buttons.buttons():
            button.setChecked(charted and button.objectName() == f"range_{self.chart_range.key}")

    def update_stats(
        self, stats: QueueStats, series: Series, chart_range: ChartRange, costs: Ledger | None = None
    ) -> None:
        for status, label in self.counts.items():
            _set(label, f"{stats.by_status.get(status, 0):,}")
        _set(self.total, f"{stats.total:,}")
        _set(self.avg_wait, seconds_text(stats.avg_wait_s))
        _set(self.avg_run, seconds_text(stats.avg_run_s))
        _set(self.success, "–" if stats.success_rate is None else f"{stats.success_rate:.1%}")
        _set(self.throughput, f"{stats.throughput_last_hour:,} / h")
        _set(self.succeeded, f"{stats.succeeded:,}")
        _set(self.failed, f"{stats.failed:,}")
        if costs is not None:
            self.costs.set_ledger(costs)
        if chart_range == self.chart_range:  # a series of the range chosen before this one is dropped
            self.chart.set_series(series, chart_range.bucket_s, chart_range.unit_s, chart_range.unit_label)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._colour_dots()
        super().changeEvent(event)

    def _colour_dots(self) -> None:
        for status, dot in self.dots.items():
            colour = status_colour(status, self.palette())
            if colour is not None:
                dot.setStyleSheet(f"color: {colour.name()};")
