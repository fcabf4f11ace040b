"""The history pages through a large table: never loads it all, stays sorted, filters and searches."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.task_model import PAGE_SIZE
from tests.ui.bulk import with_history

TOTAL = 200_000


@pytest.fixture
def big_queue(queue: TaskQueueService, db_path: Path) -> TaskQueueService:
    return with_history(queue, db_path, TOTAL)


def test_history_opens_a_large_table_a_page_at_a_time(make_window, big_queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    model, view = window.history.model, window.history.view
    qtbot.waitUntil(lambda: model.rowCount() > 0)
    assert model.rowCount() == PAGE_SIZE
    assert model.canFetchMore()
    assert model.task_at(0).id == TOTAL  # newest first
    qtbot.waitUntil(lambda: window.history.total == TOTAL)

    for pages in range(2, 5):  # scrolling to the end asks for one more page each time
        with qtbot.waitSignal(model.page_loaded, timeout=5000):
            view.scrollToBottom()
        assert model.rowCount() == pages * PAGE_SIZE
    ids = [model.task_at(r).id for r in range(model.rowCount())]
    assert ids == list(range(TOTAL, TOTAL - 4 * PAGE_SIZE, -1))  # keyset pages: no gap, no repeat
    assert model.rowCount() < TOTAL / 100


def test_sorting_filtering_and_search_query_the_database(make_window, big_queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    history = window.history
    model, view = history.model, history.view
    qtbot.waitUntil(lambda: model.rowCount() == PAGE_SIZE)

    with qtbot.waitSignal(model.page_loaded, timeout=10_000):  # sort by priority, lowest first
        view.sortByColumn(model.column_of("priority"), Qt.SortOrder.AscendingOrder)
    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        model.fetchMore()
    keys = [(model.task_at(r).priority, model.task_at(r).id) for r in range(model.rowCount())]
    assert keys == sorted(keys) and keys[:2] == [(1, 1), (1, 6)] and len(set(keys)) == 2 * PAGE_SIZE

    qtbot.waitUntil(lambda: history.agent.findData("beta") > 0)  # the agents come with the statistics
    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        history.agent.setCurrentIndex(history.agent.findData("beta"))
    assert {model.task_at(r).agent for r in range(model.rowCount())} == {"beta"}
    qtbot.waitUntil(lambda: history.total == TOTAL // 4)

    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        history.agent.setCurrentIndex(0)
        history.status.setCurrentIndex(history.status.findText("Failed"))
    assert model.rowCount() == 0 and not model.canFetchMore()

    history.status.setCurrentIndex(0)
    with qtbot.waitSignal(model.page_loaded, timeout=10_000):
        qtbot.keyClicks(history.search, "#123457")  # debounced: one query after the typing stops
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.task_at(0).id == 123457)


def test_new_tasks_appear_at_the_top_without_a_reset(make_window, big_queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    model = window.history.model
    qtbot.waitUntil(lambda: model.rowCount() == PAGE_SIZE)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        task = big_queue.enqueue("alpha", {"hello": "world"})
    qtbot.waitUntil(lambda: model.task_at(0).id == task.id and model.task_at(0).status is TaskStatus.COMPLETED)
    assert model.rowCount() == PAGE_SIZE + 1
    assert not resets
