"""The toolbar's Pause toggle and the database's pause flag always agree."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from desktop.queue import TaskQueueService


def test_toolbar_toggle_pauses_and_resumes_the_real_queue(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.monitor.paused is False)
    button = window.findChild(QToolBar, "mainToolbar").widgetForAction(window.pause_action)
    assert not window.pause_action.isChecked()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(queue.is_paused)
    assert window.pause_action.isChecked()
    assert window.pause_action.text() == "Resume"
    qtbot.waitUntil(lambda: window.state_label.text() == "Workers: paused")

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not queue.is_paused())
    assert not window.pause_action.isChecked()
    qtbot.waitUntil(lambda: window.state_label.text() == "Workers: running")


def test_a_pause_from_outside_shows_in_the_toggle(make_window, db_url: str, qtbot) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.monitor.paused is False)
    outside = TaskQueueService.open(db_url)  # another process, such as `agentq pause`
    try:
        with qtbot.waitSignal(window.monitor.paused_changed, timeout=3000):
            outside.pause()
        assert window.pause_action.isChecked()
        with qtbot.waitSignal(window.monitor.paused_changed, timeout=3000):
            outside.resume()
        assert not window.pause_action.isChecked()
    finally:
        outside.close()


def test_quick_toggles_end_in_the_last_state(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    qtbot.waitUntil(lambda: window.monitor.paused is False)
    for _ in range(3):
        window.pause_action.trigger()  # on, off, on
    qtbot.waitUntil(lambda: not window.jobs.busy("pause"))
    assert queue.is_paused()
    with qtbot.waitSignal(window.monitor.pause_polled, timeout=3000) as poll:  # a poll after the writes
        pass
    assert poll.args == [True]
    assert window.pause_action.isChecked()
