"""Statistics people can trust: a chosen time range, failures visible beside thousands of
completions, whole-number ticks, and one snapshot behind every count the window shows."""

from __future__ import annotations

import time
from pathlib import Path

from desktop.queue import TaskQueueService
from desktop.ui.main_window import MainWindow
from desktop.ui.queue_monitor import Snapshot
from tests.ui.bulk import add_finished_rows


def _choose(qtbot, window: MainWindow, key: str) -> None:
    button = next(b for b in window.stats.range_buttons.buttons() if b.objectName() == f"range_{key}")
    button.click()
    qtbot.waitUntil(lambda: window.monitor.snapshot is not None and window.monitor.snapshot.chart_range.key == key)


def test_the_chart_shows_the_last_hour_day_or_week(make_window, queue: TaskQueueService, db_path: Path, qtbot) -> None:
    now = time.time()
    add_finished_rows(db_path, 5, finished_at=now - 30 * 60)
    add_finished_rows(db_path, 7, finished_at=now - 3 * 3600)
    add_finished_rows(db_path, 2, status="failed", finished_at=now - 3 * 3600)
    add_finished_rows(db_path, 11, finished_at=now - 3 * 86_400)
    add_finished_rows(db_path, 13, finished_at=now - 9 * 86_400)  # older than a week: in no range
    window = make_window()
    chart = window.stats.chart
    qtbot.waitUntil(lambda: chart.totals == (5, 0))
    assert chart.bucket_count == 60  # a bar per minute

    _choose(qtbot, window, "day")
    qtbot.waitUntil(lambda: chart.totals == (12, 2))
    assert chart.bucket_count == 24  # a bar per hour
    _choose(qtbot, window, "week")
    qtbot.waitUntil(lambda: chart.totals == (23, 2))
    assert chart.bucket_count == 28  # a bar per six hours
    _choose(qtbot, window, "hour")
    qtbot.waitUntil(lambda: chart.totals == (5, 0) and chart.bucket_count == 60)


def test_a_few_failures_stay_visible_beside_thousands_of_completions(
    make_window, queue: TaskQueueService, db_path: Path, qtbot
) -> None:
    add_finished_rows(db_path, 3000, finished_at=time.time() - 90)
    add_finished_rows(db_path, 3, status="failed", finished_at=time.time() - 90)
    window = make_window()
    chart = window.stats.chart
    qtbot.waitUntil(lambda: chart.totals == (3000, 3))
    assert chart.done_plot.viewRange()[1][1] >= 3000
    assert chart.failed_plot.viewRange()[1][1] < 5  # failures on a scale of their own: 3 is a tall bar


def test_an_empty_chart_has_whole_number_ticks(make_window, qtbot) -> None:
    window = make_window()
    chart = window.stats.chart
    qtbot.waitUntil(lambda: window.monitor.snapshot is not None)
    for plot in (chart.done_plot, chart.failed_plot):
        low, high = plot.viewRange()[1]
        assert (low, high) == (0.0, 1.0)
        ticks = [value for _spacing, values in plot.getAxis("left").tickValues(low, high, 120) for value in values]
        assert ticks and all(float(v).is_integer() for v in ticks) and {0.0, 1.0} <= set(ticks)


def test_tabs_status_bar_agents_and_rows_show_one_snapshot(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("napper", "sleep", concurrency=2)
    window = make_window()
    seen: list[tuple[int, int, int, int]] = []

    def check(snapshot: Snapshot) -> None:  # runs after the window has drawn the snapshot
        running_rows = window.running.model.rowCount()
        tab = int(window.tabs.tabText(1).removeprefix("Running (").rstrip(")").replace(",", ""))
        status_bar = int(window.counts_label.text().split(" running")[0].replace(",", ""))
        agents = sum(line.running for line in window.agents.model.lines)
        seen.append((running_rows, tab, status_bar, agents))

    window.monitor.snapshot_ready.connect(check)
    queue.enqueue_many([{"agent": "napper", "payload": {"seconds": 0.15}} for _ in range(24)])
    qtbot.waitUntil(lambda: queue.count_tasks(status="completed") == 24, timeout=20_000)
    qtbot.waitUntil(lambda: seen and seen[-1] == (0, 0, 0, 0))
    assert all(len(set(counts)) == 1 for counts in seen), seen  # never "Running (1)" over an empty table
    assert any(counts[0] > 0 for counts in seen)


def test_the_history_count_follows_tasks_added_elsewhere(make_window, db_url: str, qtbot) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.history.count.text() == "0 tasks")
    outside = TaskQueueService.open(db_url)  # another process, such as `agentq enqueue --file`
    try:
        outside.add_agent("later", "echo")
        outside.pause("later")
        outside.enqueue_many([{"agent": "later", "payload": {"n": i}} for i in range(8)])
    finally:
        outside.close()
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 8, timeout=10_000)
    qtbot.waitUntil(lambda: window.history.count.text() == "8 tasks")  # not "0 tasks · 0 loaded"
    window.history.status.setCurrentIndex(window.history.status.findText("Pending"))
    qtbot.waitUntil(lambda: window.history.count.text() == "8 tasks" and window.history.model.rowCount() == 8)
    window.history.search.setText('"n": 3')
    window.history.apply_filter()
    qtbot.waitUntil(lambda: window.history.count.text() == "1 task")
