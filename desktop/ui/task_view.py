"""TaskTableView: the table every task list uses, with selection helpers and a progress bar cell."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from desktop.queue import Task
from desktop.ui.task_model import PROGRESS_ROLE, TASK_ROLE, TaskTableModel

DEFAULT_WIDTHS = {
    "id": 70, "status": 90, "agent": 110, "task_type": 70, "priority": 60, "attempts": 70,
    "progress": 140, "message": 200, "created_at": 90, "scheduled_for": 90, "next_attempt": 95,
    "started_at": 90, "finished_at": 90, "duration": 75, "lock_key": 120, "payload": 240,
}


class ProgressDelegate(QStyledItemDelegate):
    """Draws a running task's progress as the platform's progress bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        percent = index.data(PROGRESS_ROLE)
        if percent is None:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[operator]
            painter.fillRect(option.rect, option.palette.highlight())  # type: ignore[attr-defined]
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        bar.minimum, bar.maximum, bar.progress = 0, 100, int(percent)
        bar.text = f"{int(percent)} %"
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette  # type: ignore[attr-defined]
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)  # type: ignore[attr-defined]


class TaskTableView(QTableView):
    """A row-selecting, sortable view of a TaskTableModel."""

    def __init__(
        self, model: TaskTableModel, parent: QWidget | None = None, *, hidden: tuple[str, ...] = ()
    ) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.task_model = model
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        for i, column in enumerate(model.columns):
            if column.key in DEFAULT_WIDTHS:
                self.setColumnWidth(i, DEFAULT_WIDTHS[column.key])
        if any(c.key == "progress" for c in model.columns):
            self.setItemDelegateForColumn(model.column_of("progress"), ProgressDelegate(self))
        for key in hidden:
            self.setColumnHidden(model.column_of(key), True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        self.sync_sort_indicator()
        self.setSortingEnabled(True)
        header.sortIndicatorChanged.connect(self._on_sort_indicator)

    def _header_menu(self, pos: QPoint) -> None:
        """Right-click on the header: choose the columns to show."""
        menu = QMenu(self)
        header = self.horizontalHeader()
        shown = sum(not header.isSectionHidden(i) for i in range(header.count()))
        for i, column in enumerate(self.task_model.columns):
            action = menu.addAction(column.title)
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(i))
            action.setEnabled(header.isSectionHidden(i) or shown > 1)
            action.toggled.connect(lambda on, i=i: self.setColumnHidden(i, not on))
        menu.popup(header.mapToGlobal(pos))

    def sync_sort_indicator(self) -> None:
        """Show the model's sort order in the header, without asking the model to sort."""
        section, order = self.task_model.sort_section()
        header = self.horizontalHeader()
        blocked = header.blockSignals(True)
        header.setSortIndicator(section, order)
        header.blockSignals(blocked)
        header.viewport().update()

    def _on_sort_indicator(self, section: int, _order: Qt.SortOrder) -> None:
        if self.task_model.columns[section].sort is None:  # not sortable: put the indicator back
            self.sync_sort_indicator()

    def selected_tasks(self) -> list[Task]:
        rows = sorted({index.row() for index in self.selectionModel().selectedRows()})
        return [t for t in (self.task_model.task_at(r) for r in rows) if t is not None]

    def current_task(self) -> Task | None:
        index = self.currentIndex()
        task = index.data(TASK_ROLE) if index.isValid() else None
        return task if isinstance(task, Task) else None

    def visible_ids(self) -> list[int]:
        """Ids of the rows on screen now (to refresh them)."""
        count = self.task_model.rowCount()
        if not count:
            return []
        first = max(0, self.rowAt(0))
        last = self.rowAt(self.viewport().height() - 1)
        last = count - 1 if last < 0 else last
        return [t.id for t in (self.task_model.task_at(r) for r in range(first, last + 1)) if t is not None]

    def select_task(self, task_id: int) -> bool:
        row = self.task_model.row_of(task_id)
        if row is None:
            return False
        self.selectRow(row)
        self.scrollTo(self.task_model.index(row, 0))
        return True
