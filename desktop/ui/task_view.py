"""TaskTableView: the table every task list uses.

Besides selection helpers it opens a task (double-click, Enter), asks for a context menu, jumps
to either end of a long list (Ctrl+Home, Ctrl+End: the model reads the last page directly),
keeps the ID and Status columns in place when the table scrolls sideways, keeps its stretching
last column (Last error, Payload) readable in a narrow window, and draws progress as a bar (a
busy bar while a task has reported none).
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPersistentModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
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
    "id": 64, "status": 86, "agent": 110, "task_type": 70, "priority": 60, "attempts": 70,
    "progress": 140, "message": 200, "created_at": 90, "scheduled_for": 90, "next_attempt": 95,
    "started_at": 90, "finished_at": 90, "duration": 75, "lock_key": 120, "payload": 240, "waiting": 230,
}
FROZEN_KEYS = ("id", "status")  # stay on screen when the table scrolls sideways
LAST_COLUMN_MIN = 220  # the stretching last column never gets narrower than this


class ProgressDelegate(QStyledItemDelegate):
    """Draws a running task's progress as the platform's progress bar; a task that has reported
    no progress yet (a command, say) gets a busy bar, not '0 %'."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        percent = index.data(PROGRESS_ROLE)
        if percent is None:
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[operator]
            painter.fillRect(option.rect, option.palette.highlight())  # type: ignore[attr-defined]
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        busy = int(percent) <= 0  # minimum == maximum: the style's busy (indeterminate) bar
        bar.minimum, bar.maximum, bar.progress = 0, 0 if busy else 100, 0 if busy else int(percent)
        bar.text = "running" if busy else f"{int(percent)} %"
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette  # type: ignore[attr-defined]
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)  # type: ignore[attr-defined]


class _FrozenColumns(QTableView):
    """The view's first columns drawn again over its left edge, so they stay when it scrolls
    sideways. It shares the view's model and selection; clicks and keys act on the view."""

    def __init__(self, view: TaskTableView, keys: tuple[str, ...]) -> None:
        super().__init__(view)
        self.main = view
        model = view.task_model
        self.keys = keys
        self.setModel(model)
        self.setSelectionModel(view.selectionModel())
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(view.verticalScrollMode())
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(view.verticalHeader().defaultSectionSize())
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setToolTip("")
        for i, column in enumerate(model.columns):
            self.setColumnHidden(i, column.key not in keys)
        self.setItemDelegate(view.itemDelegate())
        view.viewport().stackUnder(self)
        self.verticalScrollBar().valueChanged.connect(view.verticalScrollBar().setValue)
        view.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        header.sectionClicked.connect(lambda section: view.sortByColumn(section, self._next_order(section)))
        self.doubleClicked.connect(view.open_index)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: view.request_menu(self.viewport().mapToGlobal(pos)))

    def _next_order(self, section: int) -> Qt.SortOrder:
        header = self.main.horizontalHeader()
        if header.sortIndicatorSection() == section and header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder:
            return Qt.SortOrder.AscendingOrder
        return Qt.SortOrder.DescendingOrder

    def sync(self) -> None:
        """Match the view: widths, hidden columns, sort indicator, geometry."""
        main = self.main.horizontalHeader()
        header = self.horizontalHeader()
        width = 0
        for i, column in enumerate(self.main.task_model.columns):
            shown = column.key in self.keys and not main.isSectionHidden(i)
            self.setColumnHidden(i, not shown)
            if shown:
                self.setColumnWidth(i, main.sectionSize(i))
                width += main.sectionSize(i)
        blocked = header.blockSignals(True)
        header.setSortIndicator(main.sortIndicatorSection(), main.sortIndicatorOrder())
        header.blockSignals(blocked)
        frame = self.main.frameWidth()
        self.setVisible(width > 0)
        self.setGeometry(frame, frame, width + 1, self.main.viewport().height() + main.height())
        header.setFixedHeight(main.height())
        self.verticalScrollBar().setValue(self.main.verticalScrollBar().value())

    def minimumSizeHint(self) -> QSize:
        return QSize(0, 0)  # an overlay: the table sets its geometry, no layout sizes it

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().mid().color())
        right = self.viewport().width() - 1
        painter.drawLine(right, 0, right, self.viewport().height())


class TaskTableView(QTableView):
    """A row-selecting, sortable view of a TaskTableModel.

    Signals:
        open_requested(object): the user double-clicked a row or pressed Enter on it: open this Task.
        menu_requested(QPoint): a right-click at this global position asks for the rows' menu.
    """

    open_requested = Signal(object)
    menu_requested = Signal(QPoint)

    def __init__(
        self, model: TaskTableModel, parent: QWidget | None = None, *, hidden: tuple[str, ...] = ()
    ) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.task_model = model
        self._jump: str | None = None
        self._arranging = False
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
        self.doubleClicked.connect(self.open_index)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(lambda pos: self.request_menu(self.viewport().mapToGlobal(pos)))

        frozen = tuple(key for key in FROZEN_KEYS if any(c.key == key for c in model.columns))
        self.frozen = _FrozenColumns(self, frozen) if frozen else None
        header.sectionResized.connect(lambda *_: self._layout_columns())
        header.sectionMoved.connect(lambda *_: self.keep_frozen_first())
        header.geometriesChanged.connect(self._layout_columns)
        model.page_loaded.connect(lambda _n: self._after_page())
        model.rows_prepended.connect(self._keep_place_after_prepend)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self._maybe_fetch_above())
        self.keep_frozen_first()

    # -- opening and menus ----------------------------------------------------------------------

    def open_index(self, index: QModelIndex) -> None:
        task = index.data(TASK_ROLE) if index.isValid() else None
        if isinstance(task, Task):
            self.open_requested.emit(task)

    def request_menu(self, global_pos: QPoint) -> None:
        """Select the row under the pointer (unless it is part of the selection), then ask for the menu."""
        index = self.indexAt(self.viewport().mapFromGlobal(global_pos))
        if index.isValid() and not self.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.select_only(index.row())
        if self.selected_tasks():
            self.menu_requested.emit(global_pos)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, control = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.open_index(self.currentIndex())
            return
        if control and key == Qt.Key.Key_End:
            self.jump_to_end()
            return
        if control and key == Qt.Key.Key_Home:
            self.jump_to_start()
            return
        super().keyPressEvent(event)

    # -- the two ends of a long list -----------------------------------------------------------

    def jump_to_end(self) -> None:
        """Select the last task of the order, loading the last page directly when it is not loaded."""
        model = self.task_model
        if model.canFetchMore():
            self._jump = "end"
            model.load_end()
        else:
            self._select_edge("end")

    def jump_to_start(self) -> None:
        model = self.task_model
        if not model.head_loaded:
            self._jump = "start"
            model.refresh()
        else:
            self._select_edge("start")

    def _after_page(self) -> None:
        if self._jump is not None:
            edge, self._jump = self._jump, None
            self._select_edge(edge)
        self._maybe_fetch_above()

    def _select_edge(self, edge: str) -> None:
        count = self.task_model.rowCount()
        if not count:
            return
        self.select_only(count - 1 if edge == "end" else 0)
        if edge == "end":
            self.scrollToBottom()
        else:
            self.scrollToTop()

    def _maybe_fetch_above(self) -> None:
        bar = self.verticalScrollBar()
        if bar.value() == bar.minimum() and self.task_model.can_fetch_above() and self._jump is None:
            self.task_model.fetch_above()

    def _keep_place_after_prepend(self, rows: int) -> None:
        """Rows came in above: scroll down by as many, so the rows on screen stay where they were."""
        bar = self.verticalScrollBar()
        per_item = self.verticalScrollMode() == QAbstractItemView.ScrollMode.ScrollPerItem
        step = 1 if per_item else self.verticalHeader().defaultSectionSize()
        self.updateGeometries()
        bar.setValue(bar.value() + rows * step)

    # -- columns --------------------------------------------------------------------------------

    def keep_frozen_first(self) -> None:
        """The frozen columns (ID, Status) stay the first ones, in that order, however columns move."""
        header = self.horizontalHeader()
        if self.frozen is not None and not self._arranging:
            self._arranging = True
            try:
                for position, key in enumerate(self.frozen.keys):
                    logical = self.task_model.column_of(key)
                    if header.visualIndex(logical) != position:
                        header.moveSection(header.visualIndex(logical), position)
            finally:
                self._arranging = False
        self._layout_columns()

    def _layout_columns(self) -> None:
        """Keep the stretching last column at least LAST_COLUMN_MIN wide (the table scrolls
        sideways instead), and the frozen columns over the left edge."""
        header = self.horizontalHeader()
        last = header.logicalIndex(header.count() - 1)
        while last >= 0 and header.isSectionHidden(last) and header.visualIndex(last) > 0:
            last = header.logicalIndex(header.visualIndex(last) - 1)
        shown = [i for i in range(header.count()) if i != last and not header.isSectionHidden(i)]
        others = sum(header.sectionSize(i) for i in shown)
        roomy = others + LAST_COLUMN_MIN <= self.viewport().width()
        if header.stretchLastSection() != roomy:
            header.setStretchLastSection(roomy)
            if not roomy:
                header.resizeSection(last, LAST_COLUMN_MIN)
        if self.frozen is not None:
            self.frozen.sync()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._layout_columns()

    def updateGeometries(self) -> None:
        super().updateGeometries()
        if getattr(self, "frozen", None) is not None:
            self.frozen.sync()  # type: ignore[union-attr]

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
            action.toggled.connect(lambda on, i=i: self._show_column(i, on))
        menu.popup(header.mapToGlobal(pos))

    def _show_column(self, column: int, shown: bool) -> None:
        self.setColumnHidden(column, not shown)
        self._layout_columns()

    def sync_sort_indicator(self) -> None:
        """Show the model's sort order in the header, without asking the model to sort."""
        section, order = self.task_model.sort_section()
        header = self.horizontalHeader()
        blocked = header.blockSignals(True)
        header.setSortIndicator(section, order)
        header.blockSignals(blocked)
        header.viewport().update()
        if getattr(self, "frozen", None) is not None:
            self.frozen.sync()  # type: ignore[union-attr]

    def _on_sort_indicator(self, section: int, _order: Qt.SortOrder) -> None:
        if self.task_model.columns[section].sort is None:  # not sortable: put the indicator back
            self.sync_sort_indicator()
        elif self.frozen is not None:
            self.frozen.sync()

    # -- selection ------------------------------------------------------------------------------

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

    def select_only(self, row: int) -> None:
        """Make `row` the current and only selected row (whatever modifier keys are held)."""
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.selectionModel().setCurrentIndex(self.task_model.index(row, 0), flags)

    def select_task(self, task_id: int) -> bool:
        row = self.task_model.row_of(task_id)
        if row is None:
            return False
        self.select_only(row)
        self.scrollTo(self.task_model.index(row, 0))
        return True
