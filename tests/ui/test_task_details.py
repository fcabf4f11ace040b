"""Every task can be opened: double-click or Enter on a row of each table, or its right-click menu."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from desktop.queue import Task, TaskQueueService, TaskStatus, repo_lock_key
from desktop.ui.details_dialog import TaskDetailsDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.task_view import TaskTableView

PROMPT = "Add a dark mode toggle.\n\n- follow the system setting\n- add a test"


def _cell_centre(view: TaskTableView, task_id: int, column: str) -> QPoint:
    row = view.task_model.row_of(task_id)
    assert row is not None
    return view.visualRect(view.task_model.index(row, view.task_model.column_of(column))).center()


def _double_click(qtbot, viewport, point: QPoint) -> None:
    """What a person's double-click sends: a click, then the double-click (QTest sends only the latter)."""
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=point)
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=point)


def _press_enter(qtbot, view: TaskTableView, task_id: int) -> None:
    assert view.select_task(task_id)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Return)


def _dialog(qtbot, window: MainWindow, task_id: int) -> TaskDetailsDialog:
    qtbot.waitUntil(lambda: task_id in window.details_dialogs)
    dialog = window.details_dialogs[task_id]
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def _close(qtbot, window: MainWindow, dialog: TaskDetailsDialog) -> None:
    task_id = dialog.task.id
    dialog.reject()
    qtbot.waitUntil(lambda: task_id not in window.details_dialogs)


def test_history_opens_a_completed_coding_task_with_its_prompt_first(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("coder", "command", {"argv": ["echo", "{prompt}"], "cwd": "{repo}"})
    repo = tmp_path / "repo"
    repo.mkdir()
    window = make_window()
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        task = queue.enqueue("coder", {"prompt": PROMPT, "repo": str(repo)}, lock_key=repo_lock_key(repo))
    model = window.history.model
    qtbot.waitUntil(lambda: model.row_of(task.id) is not None
                    and model.task_at(model.row_of(task.id)).status is TaskStatus.COMPLETED)

    view = window.history.view
    _double_click(qtbot, view.viewport(), _cell_centre(view, task.id, "agent"))
    dialog = _dialog(qtbot, window, task.id)
    details = dialog.details
    assert details.tabs.currentIndex() == details.prompt_tab  # a coding task shows its prompt first
    assert details.prompt.toPlainText() == PROMPT  # readable: the text itself, lines and all
    assert str(repo) in details.repo.text()
    assert "completed" in details.title.text() and f"lock key path:{repo}" in details.meta.text()
    assert '"exit_code": 0' in details.result.toPlainText()
    qtbot.waitUntil(lambda: details.attempt_table.rowCount() == 1)
    assert "Add a dark mode toggle." in details.attempt_output.toPlainText()  # the attempt's output
    assert not dialog.cancel_button.isEnabled() and not dialog.retry_button.isEnabled()  # finished, completed
    _close(qtbot, window, dialog)

    _press_enter(qtbot, window.history.view, task.id)
    dialog = _dialog(qtbot, window, task.id)
    dialog.copy_prompt_button.click()
    assert QApplication.clipboard().text() == PROMPT
    _close(qtbot, window, dialog)


def test_failed_tab_opens_a_task_with_its_error_and_traceback(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("doomed", "fail", max_retries=1, retry_base_s=0.0)
    window = make_window()
    task = queue.enqueue("doomed", {"message": "disk on fire"})
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.FAILED, timeout=10_000)
    window.tabs.setCurrentWidget(window.failed)
    qtbot.waitUntil(lambda: window.failed.model.row_of(task.id) is not None)

    _press_enter(qtbot, window.failed.view, task.id)
    dialog = _dialog(qtbot, window, task.id)
    details = dialog.details
    assert details.tabs.currentIndex() == details.error_tab
    qtbot.waitUntil(lambda: details.attempt_table.rowCount() == 2)  # the first try and its retry
    assert "Traceback (most recent call last)" in details.error.toPlainText()
    for row in range(2):
        details.attempt_table.selectRow(row)
        text = details.attempt_output.toPlainText()
        assert "Error: " in text and "disk on fire" in text and "FailedOnPurpose" in text
    assert dialog.retry_button.isEnabled() and not dialog.cancel_button.isEnabled()
    _close(qtbot, window, dialog)

    frozen = window.failed.view.frozen  # the ID column drawn over the table's left edge opens it too
    assert frozen is not None
    row = window.failed.model.row_of(task.id)
    point = frozen.visualRect(window.failed.model.index(row, window.failed.model.column_of("id"))).center()
    _double_click(qtbot, frozen.viewport(), point)
    _close(qtbot, window, _dialog(qtbot, window, task.id))


def test_running_tab_opens_a_running_task_that_follows_it_to_its_end(
    make_window, queue: TaskQueueService, qtbot
) -> None:
    queue.add_agent("chatty", "python", {"target": "ui_targets:chatty"}, max_retries=0)
    window = make_window()
    with qtbot.waitSignal(window.pool.task_started, timeout=10_000) as started:
        queue.enqueue("chatty", {"seconds": 30})
    task: Task = started.args[0]
    window.tabs.setCurrentWidget(window.running)
    qtbot.waitUntil(lambda: window.running.model.row_of(task.id) is not None)

    view = window.running.view
    _double_click(qtbot, view.viewport(), _cell_centre(view, task.id, "message"))
    dialog = _dialog(qtbot, window, task.id)
    assert "running" in dialog.details.title.text()
    assert dialog.cancel_button.isEnabled() and not dialog.retry_button.isEnabled()
    qtbot.waitUntil(lambda: "working: step" in dialog.details.attempt_output.toPlainText(), timeout=10_000)

    window.task_actions.confirm = lambda *_args: True
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task.status is TaskStatus.CANCELLED, timeout=10_000)  # it followed the task
    assert not dialog.cancel_button.isEnabled() and dialog.retry_button.isEnabled()
    assert "cancelled" in dialog.details.title.text()
    _close(qtbot, window, dialog)


def test_the_row_menu_opens_copies_and_acts_on_the_rows(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("later", "echo")
    queue.pause("later")
    window = make_window()
    first = queue.enqueue("later", {"prompt": "write the changelog"})
    second = queue.enqueue("later", {"n": 2})
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 2)
    view = window.history.view
    shown: list = []
    window.task_actions.menu = lambda tasks, open_task, parent: shown.append((tasks, open_task)) or _NoMenu()
    view.request_menu(view.viewport().mapToGlobal(_cell_centre(view, first.id, "agent")))
    assert [t.id for t in shown[0][0]] == [first.id]  # right-click selects the row under the pointer

    menu = type(window.task_actions).menu(window.task_actions, [queue.get(first.id)], window.open_details, window)
    actions = {a.text().replace("&", ""): a for a in menu.actions() if a.text()}
    assert actions["Retry"].isEnabled() is False and actions["Cancel"].isEnabled()
    actions["Copy prompt"].trigger()
    assert QApplication.clipboard().text() == "write the changelog"
    actions["Copy id"].trigger()
    assert QApplication.clipboard().text() == str(first.id)
    actions["Open details"].trigger()
    _close(qtbot, window, _dialog(qtbot, window, first.id))
    actions["Cancel"].trigger()  # a pending task is cancelled without a question
    qtbot.waitUntil(lambda: queue.get(first.id).status is TaskStatus.CANCELLED)

    both = type(window.task_actions).menu(window.task_actions, [queue.get(first.id), queue.get(second.id)],
                                          window.open_details, window)
    actions = {a.text().replace("&", ""): a for a in both.actions() if a.text()}
    assert not actions["Open details"].isEnabled() and not actions["Copy prompt"].isEnabled()
    assert actions["Retry"].isEnabled()  # the cancelled one can be retried
    actions["Copy ids"].trigger()
    assert QApplication.clipboard().text() == f"{first.id} {second.id}"


class _NoMenu:
    def popup(self, _pos: QPoint) -> None:
        pass


def test_a_failed_command_shows_its_output_with_the_error(make_window, queue: TaskQueueService, qtbot) -> None:
    script = "echo checked 840 links; echo 3 broken >&2; exit 3"
    queue.add_agent("linkcheck", "command", {"argv": ["sh", "-c", script]}, max_retries=0)
    window = make_window()
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        task = queue.enqueue("linkcheck", None)
    qtbot.waitUntil(lambda: window.failed.model.row_of(task.id) is not None)
    window.tabs.setCurrentWidget(window.failed)
    _press_enter(qtbot, window.failed.view, task.id)
    details = _dialog(qtbot, window, task.id).details
    qtbot.waitUntil(lambda: details.attempt_table.rowCount() == 1)
    text = details.error.toPlainText()
    assert "exit code 3" in text and "checked 840 links" in text and "3 broken" in text
    assert "3 broken" in details.attempt_output.toPlainText()
    assert "3 broken" in details.copy_text()  # Copy error copies it too
