"""Running tasks show live progress and output; closing the window stops the pool cleanly."""

from __future__ import annotations

from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui.close_flow import CloseChoice


def _start_chatty(qtbot, window, queue: TaskQueueService, seconds: float = 30) -> Task:
    queue.add_agent("chatty", "python", {"target": "ui_targets:chatty"}, max_retries=0)
    with qtbot.waitSignal(window.pool.task_started, timeout=10_000) as started:
        queue.enqueue("chatty", {"seconds": seconds})
    return started.args[0]


def test_running_view_follows_progress_and_output(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    task = _start_chatty(qtbot, window, queue)
    panel = window.running
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.row_of(task.id) is not None)
    row = panel.model.row_of(task.id)
    qtbot.waitUntil(lambda: panel.model.task_at(row).progress > 0)  # from the pool's task_progress
    assert panel.model.index(row, panel.model.column_of("message")).data().startswith("step ")

    panel.view.select_task(task.id)
    qtbot.waitUntil(lambda: "working: step" in panel.tail.toPlainText())
    first = panel.tail.toPlainText()
    qtbot.waitUntil(lambda: panel.tail.toPlainText() != first)  # polled every half second

    history_row = window.history.model.row_of(task.id)
    assert history_row is not None
    assert window.history.model.task_at(history_row).status is TaskStatus.RUNNING

    asked: list[str] = []
    window.task_actions.confirm = lambda _parent, _title, text, *_buttons: asked.append(text) or True
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000) as finished:
        window.cancel_action.trigger()  # the toolbar's Cancel acts on the Running tab's selection
    assert asked and f"task {task.id}" in asked[0]  # a running task is stopped only after asking
    assert finished.args[0].status is TaskStatus.CANCELLED
    qtbot.waitUntil(lambda: panel.model.row_of(task.id) is None)
    assert queue.get(task.id).status is TaskStatus.CANCELLED


def test_closing_with_running_tasks_and_stop_now_gives_them_back(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    task = _start_chatty(qtbot, window, queue)
    asked: list[int] = []

    def ask(_parent, running: int, _tray: bool) -> CloseChoice:
        asked.append(running)
        return CloseChoice.STOP

    window.ask_close = ask
    with qtbot.waitSignal(window.shutdown_finished, timeout=15_000):
        window.close()
    assert asked == [1]
    assert not window.isVisible() and not window.pool.is_running
    released = queue.get(task.id)
    assert released.status is TaskStatus.PENDING  # given back, not failed
    assert queue.attempts(task.id)[-1].outcome == "interrupted"


def test_closing_can_be_cancelled_or_wait_for_the_tasks(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    task = _start_chatty(qtbot, window, queue, seconds=1.0)
    window.ask_close = lambda *_args: CloseChoice.CANCEL
    window.close()
    assert window.isVisible() and window.pool.is_running

    window.ask_close = lambda *_args: CloseChoice.WAIT
    with qtbot.waitSignal(window.shutdown_finished, timeout=15_000):
        window.close()
    assert queue.get(task.id).status is TaskStatus.COMPLETED  # it was allowed to finish


def test_keep_running_in_the_tray_hides_the_window(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    _start_chatty(qtbot, window, queue)
    window.ask_close = lambda *_args: CloseChoice.TRAY
    window._begin_close(allow_tray=True)
    assert not window.isVisible()
    assert window.pool.is_running
    window.show_window()
    assert window.isVisible()


def test_the_window_remembers_its_layout_and_filters(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("echoer", "echo")
    window = make_window()
    qtbot.waitUntil(lambda: window.history.agent.findData("echoer") > 0)
    window.history.agent.setCurrentIndex(window.history.agent.findData("echoer"))
    window.history.status.setCurrentIndex(window.history.status.findText("Failed"))
    window.history.search.setText("deploy")
    window.history.view.setColumnWidth(2, 222)
    window.failed.splitter.setSizes([111, 333])
    window.tabs.setCurrentWidget(window.failed)
    sizes = window.failed.splitter.sizes()
    with qtbot.waitSignal(window.shutdown_finished, timeout=5000):
        window.close()

    again = make_window()
    history = again.history
    assert history.agent.currentData() == "echoer"
    assert history.status.currentText() == "Failed"
    assert history.search.text() == "deploy"
    assert history.model.task_filter.search == "deploy" and history.model.task_filter.agent == "echoer"
    assert history.view.columnWidth(2) == 222
    top, bottom = again.failed.splitter.sizes()
    assert abs(top / (top + bottom) - sizes[0] / sum(sizes)) < 0.02  # the same split, in a smaller window
    for key in ("window/geometry", "window/state", "window/splitter", "window/left", "agents/header"):
        assert again.store.contains(key)  # (the offscreen screen is too small to compare geometry)
    assert again.tabs.currentWidget() is again.failed


def test_the_output_of_a_finished_task_stays_marked_with_its_outcome(
    make_window, queue: TaskQueueService, qtbot
) -> None:
    window = make_window()
    task = _start_chatty(qtbot, window, queue, seconds=1.0)
    panel = window.running
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.model.row_of(task.id) is not None)
    panel.view.select_task(task.id)
    qtbot.waitUntil(lambda: "working: step" in panel.tail.toPlainText())

    qtbot.waitUntil(lambda: panel.model.row_of(task.id) is None, timeout=10_000)  # it ended: its row went
    qtbot.waitUntil(lambda: "completed" in panel.tail_title.text())
    assert f"task {task.id}" in panel.tail_title.text()
    assert "working: step" in panel.tail.toPlainText()  # still on screen, not "Select a running task…"
    assert queue.get(task.id).status is TaskStatus.COMPLETED

    second = _start_chatty_again(qtbot, window, queue)  # selecting another task follows that one
    qtbot.waitUntil(lambda: panel.model.row_of(second.id) is not None)
    panel.view.select_task(second.id)
    title = panel.tail_title.text
    qtbot.waitUntil(lambda: f"task {second.id}" in title() and "completed" not in title())


def _start_chatty_again(qtbot, window, queue: TaskQueueService) -> Task:
    with qtbot.waitSignal(window.pool.task_started, timeout=10_000) as started:
        queue.enqueue("chatty", {"seconds": 30})
    return started.args[0]
