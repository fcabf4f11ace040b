"""TaskTableModel: a task table that loads from the database a page at a time, off the GUI thread.

Qt's fetchMore pattern: rowCount() is the rows loaded so far, canFetchMore() says more exist, and
fetchMore() asks for the next page; here the page is read on a read thread and inserted when it
arrives, so scrolling never waits on the database. Pages are keyset pages (see task_queries), so
page 5,000 costs what page 1 does. Live changes update, insert or remove single rows; only a new
filter or sort order resets the model.

load_end() jumps to the other end: the model then holds the last page of the order (read as the
first page of the reversed order), and fetch_above() loads the pages before it as the user
scrolls up. So Ctrl+End reaches the oldest of a million tasks with one query.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui import task_queries as q
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import pretty_json, status_colour, when
from desktop.ui.task_columns import COLUMNS, Column

log = logging.getLogger(__name__)

PAGE_SIZE = 200
ALL_TASKS = q.TaskFilter()
NEWEST_FIRST = q.SortOrder()
TASK_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
_TOOLTIP_CHARS = 2000
AnyIndex = QModelIndex | QPersistentModelIndex
_TIME_FIELDS = {
    "created_at": "created_at", "scheduled_for": "scheduled_for", "next_attempt": "scheduled_for",
    "started_at": "started_at", "finished_at": "finished_at",
}


class TaskTableModel(QAbstractTableModel):
    """Tasks matching a TaskFilter in a SortOrder, loaded page by page.

    Signals:
        loading_changed(bool): a page query started (True) or ended (False).
        page_loaded(int): a page arrived with this many new rows (the first page after a reset too).
        rows_prepended(int): fetch_above() inserted this many rows at the top.
        load_failed(object): a page query raised this exception.
    """

    loading_changed = Signal(bool)
    page_loaded = Signal(int)
    rows_prepended = Signal(int)
    load_failed = Signal(object)

    def __init__(
        self,
        service: TaskQueueService,
        jobs: Jobs,
        columns: Sequence[str],
        flt: q.TaskFilter = ALL_TASKS,
        order: q.SortOrder = NEWEST_FIRST,
        *,
        page_size: int = PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.columns: list[Column] = [COLUMNS[key] for key in columns]
        self.page_size = page_size
        self._filter = flt
        self._order = order
        self._rows: list[Task] = []
        self._index: dict[int, int] | None = {}
        self._after: q.SortKey | None = None
        self._complete = True  # nothing to fetch until refresh() has loaded the first page
        self._at_end = False  # load_end(): the rows are the last ones of the order
        self._top_key: q.SortKey | None = None  # the key of the first row (for fetch_above)
        self._top_complete = True  # no rows come before the first row loaded
        self._loading = False
        self._generation = 0
        self._started = False
        self._first_loading = False
        self._changed_while_loading: set[int] = set()
        self._waits: dict[int, str] = {}  # why the waiting rows on screen wait (the Waiting column)
        self._wait_column = next((i for i, c in enumerate(self.columns) if c.key == "waiting"), None)

    # -- what it shows --------------------------------------------------------------------------

    @property
    def task_filter(self) -> q.TaskFilter:
        return self._filter

    @property
    def order(self) -> q.SortOrder:
        return self._order

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def tasks(self) -> list[Task]:
        return list(self._rows)

    @property
    def started(self) -> bool:
        """True once refresh() has asked for a first page."""
        return self._started

    @property
    def at_end(self) -> bool:
        """True after load_end(), until the next refresh(): the rows end with the last task."""
        return self._at_end

    @property
    def head_loaded(self) -> bool:
        """True when the first rows of the order are loaded (not after a jump to the end of a long list)."""
        return self._top_complete

    def configure(self, flt: q.TaskFilter | None = None, order: q.SortOrder | None = None) -> None:
        """Set the filter and order without loading anything (call refresh() to load)."""
        if flt is not None:
            self._filter = flt
        if order is not None:
            self._order = order

    def set_filter(self, flt: q.TaskFilter) -> None:
        if flt != self._filter:
            self._filter = flt
            self.refresh()

    def set_order(self, order: q.SortOrder) -> None:
        if order != self._order:
            self._order = order
            self.refresh()

    def column_of(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    def task_at(self, row: int) -> Task | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, task_id: int) -> int | None:
        if self._index is None:
            self._index = {task.id: i for i, task in enumerate(self._rows)}
        return self._index.get(task_id)

    # -- Qt model -------------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        task = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._waits.get(task.id, "") if column.key == "waiting" else column.text(task)
        if role == Qt.ItemDataRole.ForegroundRole and column.key == "status":
            return status_colour(task.status.value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(column.alignment)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.key == "last_error" and task.last_error:
                return task.last_error[:_TOOLTIP_CHARS]
            if column.key == "payload":
                return pretty_json(task.payload)[:_TOOLTIP_CHARS]
            if column.key == "message":
                return task.progress_message
            if column.key == "waiting":
                return self._waits.get(task.id)
            moment = _TIME_FIELDS.get(column.key)
            return when(getattr(task, moment)) if moment else None
        if role == TASK_ROLE:
            return task
        if role == PROGRESS_ROLE:
            return task.progress if task.status is TaskStatus.RUNNING else None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            sortable = "" if column.sort else " (not sortable)"
            return (column.tooltip or column.title) + sortable
        return None

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._complete

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or self._complete or self._loading:
            return
        self._load("more")

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns) or self.columns[column].sort is None:
            return
        self.set_order(q.SortOrder(self.columns[column].sort or "id", order == Qt.SortOrder.DescendingOrder))

    def sort_section(self) -> tuple[int, Qt.SortOrder]:
        """The header section and direction matching the current order (for the sort indicator)."""
        for i, column in enumerate(self.columns):
            if column.sort == self._order.column:
                direction = Qt.SortOrder.DescendingOrder if self._order.descending else Qt.SortOrder.AscendingOrder
                return i, direction
        return -1, Qt.SortOrder.DescendingOrder

    # -- loading --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Load the first page again (a new filter or sort order); the old rows stay until it arrives."""
        self._generation += 1
        self._started = True
        self._load("head")

    def load_end(self) -> None:
        """Load the last page of the order instead of the first (Ctrl+End); the old rows stay until it arrives."""
        self._generation += 1
        self._started = True
        self._load("end")

    def can_fetch_above(self) -> bool:
        return not self._top_complete and not self._loading

    def fetch_above(self) -> None:
        """After load_end(): load the page before the first row loaded."""
        if self.can_fetch_above():
            self._load("above")

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loading_changed.emit(loading)

    def _load(self, mode: str) -> None:
        """mode: head (the first page), more (the page after the last row), end (the last page),
        above (the page before the first row)."""
        generation, flt, size, service = self._generation, self._filter, self.page_size, self.service
        upward = mode in ("end", "above")
        order = q.reversed_order(self._order) if upward else self._order
        after = {"head": None, "end": None, "more": self._after, "above": self._top_key}[mode]
        self._first_loading = mode in ("head", "end")
        if self._first_loading:
            self._changed_while_loading.clear()
        self._set_loading(True)
        self.jobs.read(
            lambda: q.fetch_page(service, flt, order, after, size),
            lambda page: self._on_page(generation, mode, page),
            lambda exc: self._on_error(generation, exc),
            owner=self,
            name=f"page-{id(self)}",
            priority=1,
        )

    def _on_page(self, generation: int, mode: str, page: q.Page) -> None:
        if generation != self._generation:
            return  # the filter or order changed meanwhile; a newer first page is on its way
        self._set_loading(False)
        tasks = list(reversed(page.tasks)) if mode in ("end", "above") else list(page.tasks)
        if mode in ("head", "end"):
            self.beginResetModel()
            self._rows = tasks
            self._index = None
            self._at_end = mode == "end"
            self.endResetModel()
            added = len(self._rows)
        else:
            new = [t for t in tasks if self.row_of(t.id) is None]
            added = len(new)
            if new:
                start = 0 if mode == "above" else len(self._rows)
                self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
                self._rows[start:start] = new
                self._index = None
                self.endInsertRows()
        if mode in ("head", "more"):
            self._after = page.last_key
            self._complete = page.complete
            if mode == "head":
                self._top_key, self._top_complete = None, True
        else:
            self._top_key = page.last_key
            self._top_complete = page.complete
            if mode == "end":
                self._after, self._complete = None, True
        if mode == "above" and added:
            self.rows_prepended.emit(added)  # first: the view keeps its place before it looks again
        self.page_loaded.emit(added)
        if mode in ("head", "end") and self._changed_while_loading:
            # The page may have been read before these changes: read those rows again.
            changed, self._changed_while_loading = self._changed_while_loading, set()
            self.refresh_rows(changed)

    def _on_error(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._set_loading(False)
        self._complete = self._top_complete = True  # stop asking until the next refresh
        self.load_failed.emit(exc)

    # -- live changes ---------------------------------------------------------------------------

    def apply_task(self, task: Task) -> None:
        """A task changed (started, finished, retried...): update, insert or remove its row."""
        if not self._started:
            return
        if self._loading and self._first_loading:
            self._changed_while_loading.add(task.id)
        row = self.row_of(task.id)
        matches = self._filter.matches(task)
        if row is not None:
            old = self._rows[row]
            task = _keep_live_progress(old, task)
            if not matches:
                self._remove_row(row)
            elif old == task:
                return
            elif q.sort_key(old, self._order.column) == q.sort_key(task, self._order.column):
                self._rows[row] = task
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))
            else:  # it moved in the sort order
                self._remove_row(row)
                self._insert_sorted(task)
            return
        if matches:
            self._insert_sorted(task)

    def apply_tasks(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            self.apply_task(task)

    def sync_tasks(self, tasks: Sequence[Task]) -> None:
        """Show exactly `tasks` (the whole list, e.g. the running tasks of a snapshot): rows of
        other tasks go, the rest are updated or inserted in order, and nothing is paged."""
        self._started, self._complete, self._top_complete, self._at_end = True, True, True, False
        wanted = {task.id for task in tasks}
        self.remove_ids([t.id for t in self._rows if t.id not in wanted])
        self.apply_tasks(tasks)

    def update_progress(self, task_id: int, percent: int, message: str) -> None:
        row = self.row_of(task_id)
        if row is None:
            return
        old = self._rows[row]
        self._rows[row] = dataclasses.replace(old, progress=percent, progress_message=message or old.progress_message)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))

    def remove_ids(self, ids: Iterable[int]) -> None:
        """Remove these tasks' rows, bottom up, a contiguous block at a time."""
        rows = sorted({r for r in (self.row_of(i) for i in ids) if r is not None}, reverse=True)
        while rows:
            last = first = rows.pop(0)
            while rows and rows[0] == first - 1:
                first = rows.pop(0)
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first:last + 1]
            self._index = None
            self.endRemoveRows()

    def refresh_rows(self, ids: Iterable[int]) -> None:
        """Read these tasks again (the rows on screen) and update, or drop, their rows; with a
        Waiting column, read why the waiting ones wait in the same job."""
        wanted = [i for i in dict.fromkeys(ids) if self.row_of(i) is not None]
        if not wanted:
            return
        generation, service, waits = self._generation, self.service, self._wait_column is not None

        def done(result: tuple[dict[int, Task], dict[int, str]]) -> None:
            if generation != self._generation:
                return
            found, reasons = result
            for task_id in wanted:
                task = found.get(task_id)
                if task is None:
                    self.remove_ids([task_id])  # deleted meanwhile
                else:
                    self.apply_task(task)
            if waits:
                self._show_waits(wanted, reasons)

        self.jobs.read(
            lambda: q.tasks_and_waits(service, wanted, waits=waits), done, lambda exc: None,
            owner=self, name=f"rows-{id(self)}", skip_if_busy=True,
        )

    def wait_reason(self, task_id: int) -> str | None:
        """Why the task waits, as the Waiting column shows it (None when it does not, or not read yet)."""
        return self._waits.get(task_id)

    def _show_waits(self, ids: list[int], reasons: dict[int, str]) -> None:
        for task_id in ids:
            reason = reasons.get(task_id)
            if reason == self._waits.get(task_id):
                continue
            if reason is None:
                self._waits.pop(task_id, None)
            else:
                self._waits[task_id] = reason
            row = self.row_of(task_id)
            if row is not None and self._wait_column is not None:
                cell = self.index(row, self._wait_column)
                self.dataChanged.emit(cell, cell)

    def sync_head(self) -> None:
        """Read the first page again and merge it: new tasks appear, tasks that left the filter go.

        Rows further down are kept (refresh_rows updates those on screen); if more new tasks came
        than a page holds, the model reloads from the top so no gap is left.
        """
        if not self._started or self._loading or not self._top_complete:
            return  # after a jump to the end of a long list the head is not on screen
        generation, flt, order, service, size = self._generation, self._filter, self._order, self.service, self.page_size
        self.jobs.read(
            lambda: q.fetch_page(service, flt, order, None, size),
            lambda page: self._merge_head(generation, page),
            lambda exc: None,
            owner=self,
            name=f"head-{id(self)}",
            skip_if_busy=True,
        )

    def _merge_head(self, generation: int, page: q.Page) -> None:
        if generation != self._generation or self._loading or not self._top_complete:
            return
        column = self._order.column
        if self._rows and not page.complete and page.last_key is not None:
            first_old = q.sort_key(self._rows[0], column)
            if self._before(page.last_key, first_old):  # a gap between the page and the old rows
                self._on_page(generation, "head", page)
                return
        ids = {t.id for t in page.tasks}
        stale = [
            t.id for t in self._rows
            if t.id not in ids and (page.complete or page.last_key is None
                                    or not self._before(page.last_key, q.sort_key(t, column)))
        ]
        self.remove_ids(stale)
        fresh = []
        for task in page.tasks:
            if self.row_of(task.id) is None:
                fresh.append(task)
            else:
                self.apply_task(task)
        self._insert_block(fresh)
        if page.complete:
            self._complete = True
            self._after = page.last_key

    # -- helpers --------------------------------------------------------------------------------

    def _before(self, a: q.SortKey, b: q.SortKey) -> bool:
        """True if key `a` comes strictly before key `b` in the current order."""
        return a > b if self._order.descending else a < b

    def _remove_row(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self._index = None
        self.endRemoveRows()

    def _insert_block(self, tasks: list[Task]) -> None:
        """Insert tasks that match the filter; new ones above every loaded row in one go."""
        if not tasks:
            return
        column = self._order.column
        tasks = sorted(tasks, key=lambda t: q.sort_key(t, column), reverse=self._order.descending)
        if self._rows and not self._before(q.sort_key(tasks[-1], column), q.sort_key(self._rows[0], column)):
            for task in tasks:  # they land among the loaded rows: one at a time
                self.apply_task(task)
            return
        self.beginInsertRows(QModelIndex(), 0, len(tasks) - 1)
        self._rows[0:0] = tasks
        self._index = None
        self.endInsertRows()

    def _insert_sorted(self, task: Task) -> None:
        key = q.sort_key(task, self._order.column)
        lo, hi = 0, len(self._rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._before(q.sort_key(self._rows[mid], self._order.column), key):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(self._rows) and not self._complete:
            return  # beyond the rows loaded so far: it arrives with a later page
        if lo == 0 and self._rows and not self._top_complete:
            return  # before the rows loaded after a jump to the end: it arrives with fetch_above()
        self.beginInsertRows(QModelIndex(), lo, lo)
        self._rows.insert(lo, task)
        self._index = None
        self.endInsertRows()


def _keep_live_progress(old: Task, new: Task) -> Task:
    """The database does not hold a running task's latest progress (the pool reports it by
    signal), so a re-read of a still-running attempt keeps the progress the row already shows."""
    same_attempt = (
        old.status is TaskStatus.RUNNING and new.status is TaskStatus.RUNNING and old.attempts == new.attempts
    )
    if same_attempt and new.progress < old.progress:
        return dataclasses.replace(
            new, progress=old.progress, progress_message=new.progress_message or old.progress_message
        )
    return new
