"""CostTable: what coding agents cost today and over the last 7 days, per agent and repository.

Read from the attempt ledger with each snapshot (TaskQueueService.ledger); shown in the chart's
place (StatsPanel). Its size does not follow its lines, so new costs never move the splitter.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem, QWidget

from desktop.queue import Ledger

HEADERS = ("Agent / repository", "Today", "7 days")


class CostTable(QTableWidget):
    """One line per agent, then per repository (marked "repo"), that reported a cost or tokens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self.setObjectName("costTable")
        self.setHorizontalHeaderLabels(HEADERS)
        self.setToolTip("Cost reported by agents (coding agents): today, and over the last 7 local days")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.verticalHeader().hide()
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, self.fontMetrics().horizontalAdvance("$0,000.00") + 16)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.lines: list[tuple[str, str, str]] = []
        self.set_ledger(Ledger([], [], []))

    def set_ledger(self, ledger: Ledger) -> None:
        lines = [(line.key, _usd(line.today_usd), _usd(line.week_usd)) for line in ledger.by_agent]
        lines += [(f"repo {line.key}", _usd(line.today_usd), _usd(line.week_usd)) for line in ledger.by_repo]
        if lines == self.lines and self.rowCount():
            return
        self.lines = lines
        shown = lines or [("no cost reported yet", "–", "–")]
        self.setRowCount(len(shown))
        for row, values in enumerate(shown):
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if not lines:
                    item.setForeground(self.palette().placeholderText())
                self.setItem(row, column, item)


def _usd(value: float) -> str:
    return f"${value:,.2f}"
