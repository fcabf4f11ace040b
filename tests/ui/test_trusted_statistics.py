"""Statistics people can trust, in the window: a retry keeps its failure counted in the counts and
the chart, and the cost per agent and repository shows beside them."""

from __future__ import annotations

from pathlib import Path

from desktop.queue import TaskQueueService, TaskStatus


def test_a_task_that_fails_then_succeeds_counts_one_failure_and_one_success(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    marker = tmp_path / "tried-once"
    script = f'test -f "{marker}" || {{{{ touch "{marker}"; exit 1; }}}}'  # {{ }}: literal braces in an argv
    queue.add_agent("flaky", "command", {"argv": ["sh", "-c", script]}, max_retries=1, retry_base_s=0)
    window = make_window()
    task = queue.enqueue("flaky")
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.COMPLETED, timeout=15_000)
    panel = window.stats
    qtbot.waitUntil(lambda: (panel.succeeded.text(), panel.failed.text()) == ("1", "1"), timeout=10_000)
    qtbot.waitUntil(lambda: panel.chart.totals == (1, 1), timeout=10_000)
    assert panel.counts["completed"].text() == "1" and panel.counts["failed"].text() == "0"
    assert panel.success.text() == "50.0%"


def test_the_cost_table_shows_today_and_seven_days_per_agent_and_repository(
    make_window, queue: TaskQueueService, qtbot
) -> None:
    queue.add_agent("coder", "echo")
    queue.add_repo("app", source="/src/app", local_path="/src/app")
    window = make_window(start_pool=False)
    panel, table = window.stats, window.stats.costs
    qtbot.waitUntil(lambda: table.rowCount() == 1 and table.item(0, 0).text() == "no cost reported yet")
    panel.cost_button.click()  # the cost table takes the chart's place
    assert panel.pages.currentWidget() is table and table.isVisible() and not panel.chart.isVisible()
    size = panel.size()
    task = queue.enqueue("coder", repo="app")
    claim = queue.dequeue("w1")
    assert claim is not None and claim.id == task.id
    queue.complete(claim.id, claim.token, details={"cost_usd": 0.25, "input_tokens": 1000})
    window.monitor.poll_snapshot()
    qtbot.waitUntil(lambda: table.lines == [("coder", "$0.25", "$0.25"), ("repo app", "$0.25", "$0.25")])
    assert panel.size() == size
    next(b for b in panel.range_buttons.buttons() if b.objectName() == "range_day").click()
    assert panel.pages.currentWidget() is panel.chart and not panel.cost_button.isChecked()
