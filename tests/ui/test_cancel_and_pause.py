"""Cancelling a running task asks first and Cancel is off for finished tasks; a paused queue is obvious."""

from __future__ import annotations

from desktop.queue import Task, TaskQueueService, TaskStatus


def _start_chatty(qtbot, window, queue: TaskQueueService) -> Task:
    queue.add_agent("chatty", "python", {"target": "ui_targets:chatty"}, max_retries=0)
    with qtbot.waitSignal(window.pool.task_started, timeout=10_000) as started:
        queue.enqueue("chatty", {"seconds": 30})
    return started.args[0]


def test_cancelling_a_running_task_asks_first(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    task = _start_chatty(qtbot, window, queue)
    window.tabs.setCurrentWidget(window.running)
    qtbot.waitUntil(lambda: window.running.view.select_task(task.id))
    questions: list[tuple[str, str, str]] = []
    answer = {"yes": False}

    def confirm(_parent, _title, text, yes, no) -> bool:
        questions.append((text, yes, no))
        return answer["yes"]

    window.task_actions.confirm = confirm
    window.running.cancel_button.click()  # "Keep running"
    assert questions[0][1:] == ("Stop and cancel", "Keep running") and f"task {task.id} (chatty)" in questions[0][0]
    assert not window.jobs.busy("cancel")
    assert queue.get(task.id).status is TaskStatus.RUNNING and not queue.get(task.id).cancel_requested

    answer["yes"] = True
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000) as finished:
        window.cancel_action.trigger()
    assert len(questions) == 2
    assert finished.args[0].status is TaskStatus.CANCELLED


def test_cancel_is_disabled_for_finished_tasks(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("doomed", "fail", max_retries=0)
    queue.add_agent("echoer", "echo")
    window = make_window()
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        done = queue.enqueue("echoer", {"n": 1})
    with qtbot.waitSignal(window.pool.task_finished, timeout=10_000):
        failed = queue.enqueue("doomed", None)
    qtbot.waitUntil(lambda: window.history.model.rowCount() == 2 and window.failed.model.rowCount() == 1)
    qtbot.waitUntil(lambda: window.history.model.task_at(window.history.model.row_of(done.id)).status.is_finished)

    window.history.view.select_task(done.id)
    assert not window.cancel_action.isEnabled()
    window.tabs.setCurrentWidget(window.failed)
    window.failed.view.select_task(failed.id)
    assert not window.cancel_action.isEnabled() and not window.failed.cancel_button.isEnabled()
    assert window.failed.retry_button.isEnabled()
    dialog = window.open_details(queue.get(failed.id))
    assert not dialog.cancel_button.isEnabled() and dialog.retry_button.isEnabled()
    dialog.reject()

    queue.pause("echoer")
    waiting = queue.enqueue("echoer", {"n": 2})
    window.tabs.setCurrentWidget(window.history)
    qtbot.waitUntil(lambda: window.history.view.select_task(waiting.id))
    assert window.cancel_action.isEnabled()  # an unfinished one can be cancelled (no question: it is not running)
    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: queue.get(waiting.id).status is TaskStatus.CANCELLED)


def test_a_paused_queue_shows_a_banner_with_the_number_waiting(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("echoer", "echo")
    window = make_window()
    qtbot.waitUntil(lambda: window.agents.model.rowCount() == 1)
    assert not window.paused_banner.isVisible()
    window.pause_action.trigger()
    qtbot.waitUntil(queue.is_paused)
    queue.enqueue_many([{"agent": "echoer", "payload": {"n": i}} for i in range(3)])
    qtbot.waitUntil(lambda: window.paused_banner.isVisible() and "3 tasks waiting" in window.paused_banner.text.text())
    assert "paused" in window.paused_banner.text.text()
    qtbot.waitUntil(lambda: window.agents.model.lines[0].state == "paused")  # the agents say it too
    assert "whole queue" in window.agents.model.lines[0].state_tip
    assert queue.count_tasks(status="pending") == 3  # nothing started

    window.paused_banner.resume.click()
    qtbot.waitUntil(lambda: not queue.is_paused())
    qtbot.waitUntil(lambda: not window.paused_banner.isVisible())
    qtbot.waitUntil(lambda: queue.count_tasks(status="completed") == 3, timeout=10_000)
    qtbot.waitUntil(lambda: window.agents.model.lines[0].state == "idle")
