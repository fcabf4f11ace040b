"""A long history: Ctrl+End reaches the real end, ID and Status stay when scrolling sideways, and
the search matches the payload as the table shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from desktop.queue import TaskQueueService
from desktop.ui.task_model import PAGE_SIZE
from desktop.ui.task_queries import TaskFilter
from tests.ui.bulk import with_history

TOTAL = 60_000


@pytest.fixture
def long_queue(queue: TaskQueueService, db_path: Path) -> TaskQueueService:
    return with_history(queue, db_path, TOTAL)


def test_ctrl_end_reaches_the_oldest_task_and_ctrl_home_the_newest(make_window, long_queue, qtbot) -> None:
    window = make_window()
    model, view = window.history.model, window.history.view
    qtbot.waitUntil(lambda: model.rowCount() == PAGE_SIZE)
    view.setFocus()
    view.selectRow(0)

    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        qtbot.keyClick(view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyRelease(view, Qt.Key.Key_Control)
    qtbot.waitUntil(lambda: view.current_task() is not None and view.current_task().id == 1)  # the oldest of 60,000
    assert view.currentIndex().row() == model.rowCount() - 1  # on the last row
    assert model.at_end and model.rowCount() <= 2 * PAGE_SIZE  # one query, not 300 pages
    ids = [model.task_at(r).id for r in range(model.rowCount())]
    assert ids == sorted(ids, reverse=True) and ids[-1] == 1  # still newest first, ending at the oldest

    bar = view.verticalScrollBar()
    first_before = ids[0]
    with qtbot.waitSignal(model.rows_prepended, timeout=10_000):
        bar.setValue(bar.minimum())  # scrolling up from the end loads the page above
    ids = [model.task_at(r).id for r in range(model.rowCount())]
    assert ids == list(range(ids[0], 0, -1))  # no gap, no repeat
    assert ids[0] > first_before and bar.value() > bar.minimum()  # the rows on screen stayed put

    window.history.first_button.click()  # the same as Ctrl+Home
    qtbot.waitUntil(lambda: view.current_task() is not None and view.current_task().id == TOTAL)
    assert not model.at_end and model.head_loaded and view.currentIndex().row() == 0


def test_id_and_status_stay_on_screen_when_scrolling_sideways(make_window, long_queue, qtbot) -> None:
    window = make_window()
    window.resize(1024, 700)
    model, view = window.history.model, window.history.view
    qtbot.waitUntil(lambda: model.rowCount() == PAGE_SIZE)
    frozen = view.frozen
    assert frozen is not None and frozen.isVisible()
    bar = view.horizontalScrollBar()
    assert bar.maximum() > 0  # the columns are wider than the table
    bar.setValue(bar.maximum())
    id_column, status_column = model.column_of("id"), model.column_of("status")
    assert view.columnViewportPosition(id_column) < 0  # the table's own ID column scrolled away...
    corner = QPoint(5, 5)
    assert frozen.geometry().left() <= view.viewport().geometry().left()  # ...the frozen one stays at the left
    assert frozen.indexAt(corner).column() == id_column
    status_x = frozen.columnViewportPosition(status_column) + 5
    assert frozen.indexAt(QPoint(status_x, 5)).column() == status_column
    assert frozen.indexAt(corner).data() == str(model.task_at(frozen.indexAt(corner).row()).id)
    assert frozen.columnWidth(id_column) == view.columnWidth(id_column)

    header = view.horizontalHeader()
    header.moveSection(header.visualIndex(model.column_of("payload")), 0)  # dragging a column before them
    assert header.visualIndex(id_column) == 0 and header.visualIndex(status_column) == 1


def test_search_with_a_space_after_the_colon_matches_the_payload_as_shown(make_window, long_queue, qtbot) -> None:
    window = make_window()
    history = window.history
    model = history.model
    qtbot.waitUntil(lambda: model.rowCount() == PAGE_SIZE)
    row = model.row_of(TOTAL)
    shown = model.index(row, model.column_of("payload")).data()
    assert shown == '{"n": 59999}'  # shown with a space; stored as {"n":59999}

    for text in ('"n": 12345', '"n":12345', '{"n": 12345}'):
        history.search.setText(text)
        history.apply_filter()
        qtbot.waitUntil(lambda: model.rowCount() == 1 and history.total == 1, timeout=10_000)
        assert model.task_at(0).payload == {"n": 12345}
        assert TaskFilter(search=text).matches(model.task_at(0))  # live updates use the same rule
