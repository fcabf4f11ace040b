"""The window fits a 1024 px wide screen and stays usable there; nothing moves by itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QHeaderView, QStyleOptionViewItem, QWidget
from review_helpers import make_repo, setup_coder, wait_status

from desktop.queue import Ledger, LedgerLine, TaskQueueService, TaskStatus
from desktop.ui.column_fit import LONG_MIN, SHORT_MAX, column_widths
from desktop.ui.main_window import MainWindow
from desktop.ui.task_queries import CHART_RANGES
from desktop.ui.task_view import LAST_COLUMN_MIN
from desktop.workspaces.registration import register_repo
from desktop.workspaces.task_runs import clones_dir


def _too_narrow(window: MainWindow) -> list[str]:
    """Visible widgets narrower than their minimum size hint (the parts spin boxes and combo
    boxes lay out themselves, and headers, whose hint is not a width they need, aside)."""
    found = []
    for widget in window.findChildren(QWidget):
        parent = widget.parentWidget()
        inner = isinstance(parent, (QAbstractSpinBox, QComboBox))
        if not widget.isVisible() or isinstance(widget, QHeaderView) or inner:
            continue
        needed = widget.minimumSizeHint().width()
        if widget.width() < needed:
            found.append(f"{type(widget).__name__} {widget.objectName()!r}: {widget.width()} < {needed}")
    return found


@pytest.mark.parametrize("height", [700, 600])
def test_the_window_fits_1024_wide_with_nothing_squeezed(
    make_window, queue: TaskQueueService, qtbot, height: int
) -> None:
    queue.add_agent("a-rather-long-agent-name", "fail", max_retries=0)
    window = make_window()
    assert window.minimumSizeHint().width() <= 1024
    assert window.minimumSizeHint().height() <= height - 40  # room for a title bar
    window.resize(1024, height)
    task = queue.enqueue("a-rather-long-agent-name", {"message": "an error worth reading " * 4})
    qtbot.waitUntil(lambda: window.failed.model.row_of(task.id) is not None, timeout=10_000)
    for page in (window.history, window.running, window.failed):
        window.tabs.setCurrentWidget(page)
        QApplication.processEvents()
        assert window.width() == 1024 and window.height() == height
        assert _too_narrow(window) == []
    history = window.history
    assert history.search.width() >= history.search.fontMetrics().averageCharWidth() * 20  # the search box is usable
    header = window.failed.view.horizontalHeader()
    last_error = window.failed.model.column_of("last_error")
    assert header.sectionSize(last_error) >= LAST_COLUMN_MIN  # the Last error column does not collapse


def test_statistics_and_tab_counts_move_nothing(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.monitor.snapshot is not None)
    QApplication.processEvents()
    splitter, tabs = window.splitter.sizes(), [window.tabs.tabBar().tabRect(i) for i in range(3)]
    minimum = window.minimumSizeHint()
    small = window.monitor.snapshot.stats
    by_status = {s: 9_876_543 for s in small.by_status}
    big = dataclasses.replace(small, by_status=by_status, total=9_999_999, avg_wait_s=86_000.0, avg_run_s=7_000.0,
                              success_rate=0.999, throughput_last_hour=987_654, throughput_last_minute=98_765,
                              attempts={"completed": 9_876_543_210, "failed": 987_654_321})
    costly = Ledger([LedgerLine(f"agent-{n}", 9, 9_999.0, 1, 1, 999.99, 9_999.99) for n in range(12)], [], [])
    window.monitor.stop()  # only these statistics from now on
    for stats, count, costs in ((big, 12_345, costly), (small, 7, Ledger([], [], [])), (big, 99_999, costly)):
        window.stats.update_stats(stats, [], CHART_RANGES["hour"], costs)
        window.tabs.setTabText(1, f"Running ({count:,})")
        window.tabs.setTabText(2, f"Failed ({count:,})")
        QApplication.processEvents()
        assert window.splitter.sizes() == splitter
        assert window.minimumSizeHint() == minimum
        assert [window.tabs.tabBar().tabRect(i) for i in range(3)] == tabs  # no tab slides under the mouse


def _fits(table) -> bool:
    """No sideways scrolling: the columns shown fill the table's width, no more."""
    header = table.horizontalHeader()
    shown = sum(header.sectionSize(c) for c in range(header.count()) if not header.isSectionHidden(c))
    return not table.horizontalScrollBar().isVisible() and shown == table.viewport().width()


def test_the_repositories_and_workers_tabs_fit_1024_wide_and_stretch_at_1920(
    make_window, queue: TaskQueueService, qtbot, repo: Path, tmp_path: Path
) -> None:
    setup_coder(queue, repo)
    deep = tmp_path / "home" / "a-developer-with-a-long-name" / "projects" / "clients"
    for n in range(2):
        register_repo(queue, str(make_repo(deep / f"a-rather-long-project-name-{n}")), clones_dir())
    window = make_window()
    task = queue.enqueue("coder", {"prompt": "Add a --version flag that prints the version and exits"}, repo="repo")
    wait_status(qtbot, queue, task.id, TaskStatus.COMPLETED)
    panel = window.repositories
    for width, height in ((1024, 700), (1920, 1200)):
        window.resize(width, height)
        window.tabs.setCurrentWidget(panel)
        panel.refresh()
        qtbot.waitUntil(lambda: panel.repos.rowCount() == 3)
        panel.repos.selectRow(next(r for r in range(3) if panel.repos.item(r, 0).text() == "repo"))
        qtbot.waitUntil(lambda: panel.worktrees.rowCount() == 1)  # the coding task's, with its long branch
        QApplication.processEvents()
        assert _fits(panel.repos) and _fits(panel.worktrees)
        source = panel.repos.item(0, 7)
        assert source.toolTip() == source.text() and source.text().startswith(str(deep))  # the whole path
        window.tabs.setCurrentWidget(window.workers)
        qtbot.waitUntil(lambda: window.workers.table.rowCount() == 1)
        QApplication.processEvents()
        assert _fits(window.workers.table)
    header = panel.repos.horizontalHeader()
    assert header.sectionSize(7) > panel.repos.sizeHintForColumn(7) // 2  # at 1920 the path has room
    branch, option = panel.worktrees.model().index(0, 5), QStyleOptionViewItem()
    panel.worktrees.itemDelegateForIndex(branch).initStyleOption(option, branch)
    assert option.textElideMode == Qt.TextElideMode.ElideRight  # a branch keeps its start, a path its end
    assert panel.worktrees.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert header.sectionSize(0) >= panel.repos.sizeHintForColumn(0)  # and the name all it needs


def test_long_columns_share_fairly_and_the_right_most_takes_what_is_left() -> None:
    short = {0: 40, 1: 400}  # a short column wider than SHORT_MAX is capped
    assert column_widths(1000, {**short, 2: 100, 3: 900}, long=(2, 3)) == {0: 40, 1: SHORT_MAX, 2: 100, 3: 700}
    assert column_widths(500, {**short, 2: 200, 3: 900}, long=(2, 3)) == {0: 40, 1: SHORT_MAX, 2: 150, 3: 150}
    assert column_widths(300, {**short, 2: 200, 3: 900}, long=(2, 3)) == {0: 40, 1: SHORT_MAX, 2: LONG_MIN,
                                                                         3: LONG_MIN}  # too narrow: it scrolls
