"""Failed tasks show up with their traceback; Retry runs them again to completion."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop.queue import Task, TaskQueueService, TaskStatus


def _finished(task_id: int, status: TaskStatus):
    return lambda task: isinstance(task, Task) and task.id == task_id and task.status is status


def _wait_for_failure(qtbot, window, queue: TaskQueueService, agent: str, payload: object) -> Task:
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000) as finished:
        task = queue.enqueue(agent, payload)
    assert finished.args[0].id == task.id and finished.args[0].status is TaskStatus.FAILED
    qtbot.waitUntil(lambda: window.failed.model.row_of(task.id) is not None)
    return task


def test_a_failed_task_shows_its_traceback_and_attempts(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("doomed", "fail", max_retries=0)
    window = make_window()
    task = _wait_for_failure(qtbot, window, queue, "doomed", {"message": "disk on fire"})

    window.tabs.setCurrentWidget(window.failed)
    assert window.failed.view.select_task(task.id)
    details = window.failed.details
    qtbot.waitUntil(lambda: len(details.attempts) == 1)
    text = details.error.toPlainText()
    assert "disk on fire" in text
    assert "Traceback (most recent call last)" in text and "FailedOnPurpose" in text
    assert details.attempt_table.rowCount() == 1
    assert details.attempt_table.item(0, 1).text() == "failed"
    assert '"message": "disk on fire"' in details.payload.toPlainText()

    window.failed.copy_button.click()
    assert "FailedOnPurpose" in QApplication.clipboard().text()


def test_retry_runs_a_failed_task_again_to_completion(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("flaky", "python", {"target": "ui_targets:fail_first_time"}, max_retries=0)
    window = make_window()
    task = _wait_for_failure(qtbot, window, queue, "flaky", {"marker": str(tmp_path / "marker")})
    window.tabs.setCurrentWidget(window.failed)
    window.failed.view.select_task(task.id)
    qtbot.waitUntil(lambda: "first run fails on purpose" in window.failed.details.error.toPlainText())

    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000, check_params_cb=_finished(task.id, TaskStatus.COMPLETED)):
        qtbot.mouseClick(window.failed.retry_button, Qt.MouseButton.LeftButton)

    assert queue.get(task.id).status is TaskStatus.COMPLETED
    assert [a.outcome for a in queue.attempts(task.id)] == ["failed", "completed"]
    qtbot.waitUntil(lambda: window.failed.model.row_of(task.id) is None)  # it left the failed view
    row = window.history.model.row_of(task.id)
    assert row is not None and window.history.model.task_at(row).status is TaskStatus.COMPLETED
    # The retry keeps the first failure counted: one completed and one failed attempt this minute.
    qtbot.waitUntil(lambda: window.stats.chart.totals == (1, 1))
    assert window.stats.counts["completed"].text() == "1"
    assert window.stats.success.text() == "50.0%"


def test_retry_several_and_retry_with_an_edited_payload(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("flaky", "python", {"target": "ui_targets:fail_first_time"}, max_retries=0)
    window = make_window()
    first = _wait_for_failure(qtbot, window, queue, "flaky", {"marker": str(tmp_path / "a")})
    second = _wait_for_failure(qtbot, window, queue, "flaky", {"marker": str(tmp_path / "b")})
    (tmp_path / "a").unlink()
    (tmp_path / "b").unlink()
    window.tabs.setCurrentWidget(window.failed)
    window.failed.view.selectAll()
    assert {t.id for t in window.failed.selected_tasks()} == {first.id, second.id}
    window.retry_action.trigger()  # the toolbar's Retry acts on the Failed tab's selection
    qtbot.waitUntil(lambda: {queue.get(first.id).status, queue.get(second.id).status} == {TaskStatus.FAILED}
                    and len(queue.attempts(first.id)) == 2 and len(queue.attempts(second.id)) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: window.failed.model.rowCount() == 2)  # failed again: back in the view

    window.failed.view.select_task(first.id)
    dialog = window.task_actions.retry_with_payload(window.failed.selected_tasks()[0])
    assert dialog is not None
    dialog.payload.setPlainText('{"marker": ')  # broken JSON: refused in the dialog
    dialog.submit()
    assert "not valid JSON" in dialog.errors.message("payload")
    assert queue.get(first.id).status is TaskStatus.FAILED
    (tmp_path / "edited").write_text("exists", encoding="utf-8")
    dialog.payload.setPlainText('{"marker": "%s"}' % (tmp_path / "edited"))
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000, check_params_cb=_finished(first.id, TaskStatus.COMPLETED)):
        dialog.submit()
    assert queue.get(first.id).payload == {"marker": str(tmp_path / "edited")}


def test_cancel_and_delete_from_the_failed_view(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("doomed", "fail", max_retries=0)
    queue.add_agent("later", "fail", max_retries=3, retry_base_s=3600.0, retry_cap_s=7200.0)
    window = make_window()
    failed = _wait_for_failure(qtbot, window, queue, "doomed", None)
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        retrying = queue.enqueue("later", None)
    qtbot.waitUntil(lambda: window.failed.model.row_of(retrying.id) is not None)
    row = window.failed.model.row_of(retrying.id)
    shown = window.failed.model.task_at(row)
    assert shown.status is TaskStatus.RETRYING
    column = window.failed.model.column_of("next_attempt")
    assert window.failed.model.index(row, column).data()  # when it runs next

    window.failed.view.select_task(retrying.id)
    window.failed.cancel_button.click()
    qtbot.waitUntil(lambda: window.failed.model.row_of(retrying.id) is None)
    assert queue.get(retrying.id).status is TaskStatus.CANCELLED

    window.task_actions.confirm = lambda *_args: True
    window.failed.view.select_task(failed.id)
    window.failed.delete_button.click()
    qtbot.waitUntil(lambda: window.failed.model.row_of(failed.id) is None)
    assert queue.count_tasks(status="failed") == 0
