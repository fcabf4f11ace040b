"""Why is it waiting? The Waiting column of the task tables and the line in a task's details."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from desktop.queue import TaskQueueService, TaskStatus


def _cell(model, task_id: int) -> str:
    row = model.row_of(task_id)
    return "" if row is None else model.data(model.index(row, model.column_of("waiting")))


def test_the_tables_and_the_details_say_why_a_task_waits(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("first", "echo")
    queue.add_agent("later", "echo", max_retries=0)
    queue.pause("later")
    parent = queue.enqueue("later")
    child = queue.enqueue("first", depends_on=[parent.id])
    window = make_window()
    history = window.history.model
    qtbot.waitUntil(lambda: _cell(history, parent.id) == "agent later is paused", timeout=10_000)
    assert _cell(history, child.id) == f"waiting for task #{parent.id} (pending)"
    header = history.headerData(history.column_of("waiting"), Qt.Orientation.Horizontal)
    assert header == "Waiting"

    dialog = window.open_details(queue.get(child.id))
    qtbot.waitUntil(lambda: dialog.details.wait_reason.isVisible())
    assert dialog.details.wait_reason.text() == f"Waiting: waiting for task #{parent.id} (pending)"
    dialog.reject()

    # The reason follows the queue: resumed, the parent runs and the child does too.
    queue.resume("later")
    qtbot.waitUntil(lambda: queue.get(child.id).status is TaskStatus.COMPLETED, timeout=10_000)
    qtbot.waitUntil(lambda: _cell(history, child.id) == "" and _cell(history, parent.id) == "", timeout=10_000)


def test_the_failed_tab_says_when_a_retrying_task_runs_again(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("flaky", "fail", max_retries=3, retry_base_s=600, retry_cap_s=600)
    task = queue.enqueue("flaky")
    window = make_window()
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.RETRYING, timeout=10_000)
    window.tabs.setCurrentWidget(window.failed)
    failed = window.failed.model
    qtbot.waitUntil(lambda: _cell(failed, task.id).startswith("retry 2 of 4 at "), timeout=10_000)
    assert re.search(r"\(in \d+ min\)$", _cell(failed, task.id))  # ten minutes, give or take the jitter
