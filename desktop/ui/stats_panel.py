"""StatsPanel: counts per status, wait and run times, success rate, and the throughput chart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import QueueStats, TaskStatus
from desktop.ui.status_style import STATUS_COLOURS, seconds_text
from desktop.ui.throughput_chart import ThroughputChart

STATUS_ORDER = (
    TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.RUNNING, TaskStatus.RETRYING,
    TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED,
)


def _set(label: QLabel, text: str) -> None:
    if label.text() != text:  # unchanged labels are not repainted
        label.setText(text)


class StatsPanel(QWidget):
    """Live queue statistics; update() changes only the labels whose text changed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        counts = QGridLayout()
        counts.setHorizontalSpacing(6)
        counts.setVerticalSpacing(2)
        self.counts: dict[str, QLabel] = {}
        for i, status in enumerate(STATUS_ORDER):
            row, col = i % 4, (i // 4) * 3
            dot = QLabel("●", self)
            dot.setStyleSheet(f"color: {STATUS_COLOURS[status.value].name()};")
            name = QLabel(status.value, self)
            value = QLabel("–", self)
            value.setObjectName(f"count_{status.value}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("0,000,000"))
            counts.addWidget(dot, row, col)
            counts.addWidget(name, row, col + 1)
            counts.addWidget(value, row, col + 2)
            self.counts[status.value] = value
        self.total = QLabel("–", self)
        self.total.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        counts.addWidget(QLabel("total", self), 3, 4)
        counts.addWidget(self.total, 3, 5)
        counts.setColumnStretch(2, 1)
        counts.setColumnStretch(5, 1)
        counts.setColumnMinimumWidth(3, 18)

        rates = QGridLayout()
        rates.setHorizontalSpacing(6)
        rates.setVerticalSpacing(2)
        self.avg_wait = QLabel("–", self)
        self.avg_run = QLabel("–", self)
        self.success = QLabel("–", self)
        self.throughput = QLabel("–", self)
        for row, (title, label, tip) in enumerate((
            ("Average wait", self.avg_wait, "From due to started, tasks finished in the last hour"),
            ("Average run time", self.avg_run, "From started to finished, tasks finished in the last hour"),
            ("Success rate", self.success, "Completed / (completed + failed) in the last hour"),
            ("Completed", self.throughput, "Tasks completed in the last hour and the last minute"),
        )):
            name = QLabel(title, self)
            name.setToolTip(tip)
            label.setToolTip(tip)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            rates.addWidget(name, row, 0)
            rates.addWidget(label, row, 1)
        rates.setColumnStretch(1, 1)

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        top = QHBoxLayout()
        top.addLayout(counts, 3)
        top.addWidget(line)
        top.addLayout(rates, 2)

        self.chart = ThroughputChart(self)
        self.chart.setToolTip("Completed and failed tasks per minute over the last hour")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.chart, 1)

    def update_stats(self, stats: QueueStats, series: Sequence[tuple[datetime, int, int]]) -> None:
        for status, label in self.counts.items():
            _set(label, f"{stats.by_status.get(status, 0):,}")
        _set(self.total, f"{stats.total:,}")
        _set(self.avg_wait, seconds_text(stats.avg_wait_s))
        _set(self.avg_run, seconds_text(stats.avg_run_s))
        _set(self.success, "–" if stats.success_rate is None else f"{stats.success_rate:.1%}")
        _set(self.throughput, f"{stats.throughput_last_hour:,} / hour · {stats.throughput_last_minute:,} / min")
        self.chart.set_series(series)
