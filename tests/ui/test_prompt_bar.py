"""The prompt bar: Ctrl+Enter queues a prompt for the chosen agent in a repository; bad input is
explained under the bar, naming the field, and nothing is written."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from desktop.queue import TaskQueueService, repo_lock_key
from desktop.ui.prompt_bar import RECENT_KEY


def _ctrl_enter(qtbot, window) -> None:
    edit = window.prompt_bar.prompt
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyRelease(edit, Qt.Key.Key_Control)  # and Ctrl is let go (else Qt keeps it as held)


def test_ctrl_enter_queues_the_prompt_with_the_repository_lock(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("coder", "echo")
    queue.add_agent("reviewer", "echo")
    queue.pause()  # the tasks stay pending: what was queued can be read back as it was written
    repo = tmp_path / "app"
    repo.mkdir()
    window = make_window()
    bar = window.prompt_bar
    qtbot.waitUntil(lambda: bar.agent.count() == 2)
    window.agents.table.selectRow(1)  # the agent selected in the agents table is preselected
    assert bar.agent.currentText() == "reviewer"

    qtbot.keyClicks(bar.prompt, "Fix the login bug")
    qtbot.keyClick(bar.prompt, Qt.Key.Key_Return)  # Enter alone: a new line, nothing queued
    qtbot.keyClicks(bar.prompt, "and add a test")
    assert queue.count_tasks() == 0
    bar.repo.setCurrentText(str(repo))
    bar.priority.setValue(5)
    with qtbot.waitSignal(bar.created, timeout=5000) as created:
        _ctrl_enter(qtbot, window)
    task = created.args[0]
    stored = queue.get(task.id)
    assert stored.agent == "reviewer" and stored.priority == 5
    assert stored.payload == {"prompt": "Fix the login bug\nand add a test", "repo": str(repo)}
    assert stored.lock_key == repo_lock_key(repo)
    assert bar.prompt.toPlainText() == "" and bar.message() == ""
    assert window.store.value(RECENT_KEY) in ([str(repo)], str(repo))  # offered again next time
    qtbot.waitUntil(lambda: window.history.model.row_of(task.id) is not None)

    window.agents.table.selectRow(0)
    assert bar.agent.currentText() == "coder"
    dialog = window.new_task()  # the New task dialog preselects it too
    assert dialog.agent.currentText() == "coder"
    dialog.reject()


def test_bad_input_is_explained_under_the_bar_and_nothing_is_queued(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("coder", "echo")
    window = make_window()
    bar = window.prompt_bar
    qtbot.waitUntil(lambda: bar.agent.count() == 1)

    _ctrl_enter(qtbot, window)
    assert bar.message().startswith("Prompt: ")  # names the field
    assert bar.prompt.hasFocus()

    bar.prompt.setPlainText("Refactor the parser")
    bar.repo.setCurrentText(str(tmp_path / "no-such-folder"))
    _ctrl_enter(qtbot, window)
    assert bar.message() == f"Repository: there is no folder {tmp_path / 'no-such-folder'}"

    bar.repo.setCurrentText("")
    queue.remove_agent("coder")  # gone meanwhile (another window, the CLI): the service says so
    bar.queue_button.click()
    qtbot.waitUntil(lambda: bar.message().startswith("Agent: "))
    assert "coder" in bar.message()
    assert queue.count_tasks() == 0
    assert bar.prompt.toPlainText() == "Refactor the parser"  # the typing is not lost


def test_recent_repositories_are_offered_in_a_new_window(
    make_window, queue: TaskQueueService, qtbot, tmp_path: Path
) -> None:
    queue.add_agent("coder", "echo")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    window = make_window()
    bar = window.prompt_bar
    qtbot.waitUntil(lambda: bar.agent.count() == 1)
    for repo in (first, second):
        bar.prompt.setPlainText(f"work in {repo.name}")
        bar.repo.setCurrentText(str(repo))
        with qtbot.waitSignal(bar.created, timeout=5000):
            bar.submit()
    with qtbot.waitSignal(window.shutdown_finished, timeout=5000):
        window.close()

    again = make_window().prompt_bar
    assert [again.repo.itemText(i) for i in range(again.repo.count())] == [str(second), str(first)]
    assert again.repo.currentText() == str(second)
