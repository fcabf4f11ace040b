"""The new-task, agent and settings dialogs explain bad input next to the field and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from desktop.config import load_settings
from desktop.queue import TaskQueueService, TaskStatus, TaskValidationError


def _ok(dialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_new_task_dialog_refuses_bad_input_and_writes_nothing(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("echoer", "echo")
    window = make_window()
    qtbot.waitUntil(lambda: window.agents.agent_names() == ["echoer"])
    dialog = window.new_task()
    assert dialog.agent.currentText() == "echoer"

    dialog.payload.setPlainText('{"message": "hi",}')
    qtbot.waitUntil(lambda: "not valid JSON" in dialog.errors.message("payload"))  # inline, while typing
    _ok(dialog)
    assert "line 1, column 18" in dialog.errors.message("payload")
    assert dialog.isVisible() and queue.count_tasks() == 0

    dialog.payload.setPlainText('{"message": "hi"}')
    dialog.agent.setCurrentText("ghost")
    _ok(dialog)
    qtbot.waitUntil(lambda: "no agent named 'ghost'" in dialog.errors.message("agent"))  # the service's refusal
    assert dialog.errors.message("payload") == ""
    assert dialog.isVisible() and queue.count_tasks() == 0

    dialog.agent.setCurrentText("echoer")
    dialog.depends_on.setText("12, twelve")
    _ok(dialog)
    assert "'twelve' is not a task id" in dialog.errors.message("depends_on")
    dialog.depends_on.setText("999")
    _ok(dialog)
    qtbot.waitUntil(lambda: "Task 999 does not exist" in dialog.errors.message("depends_on"))
    assert queue.count_tasks() == 0

    dialog.depends_on.clear()
    dialog.priority.setValue(5)
    dialog.lock_key.setText("repo:demo")
    with qtbot.waitSignal(dialog.created, timeout=5000) as created:
        _ok(dialog)
    task = created.args[0]
    assert (task.agent, task.payload, task.priority, task.lock_key) == ("echoer", {"message": "hi"}, 5, "repo:demo")
    qtbot.waitUntil(lambda: not dialog.isVisible())
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.COMPLETED)
    qtbot.waitUntil(lambda: window.history.model.row_of(task.id) is not None)


def test_new_task_dialog_schedules_for_later(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("echoer", "echo")
    window = make_window()
    dialog = window.new_task()
    dialog.agent.setCurrentText("echoer")
    dialog.run_at.setChecked(True)
    dialog.at.setDateTime(dialog.at.dateTime().addSecs(3600))
    with qtbot.waitSignal(dialog.created, timeout=5000) as created:
        _ok(dialog)
    task = created.args[0]
    assert task.status is TaskStatus.PENDING
    assert (task.scheduled_for - task.created_at).total_seconds() > 3600


def test_agent_dialog_checks_the_config_with_the_agent_kind(make_window, queue: TaskQueueService, qtbot) -> None:
    window = make_window()
    dialog = window.agents.add_agent()
    dialog.name.setText("builder")
    dialog.kind.setCurrentText("command")
    dialog.config.setPlainText('{"argv": []}')
    qtbot.waitUntil(lambda: "non-empty list" in dialog.errors.message("config"))  # inline, from the kind
    _ok(dialog)
    assert dialog.errors.message("config").startswith("argv: must be a non-empty list")
    assert queue.list_agents() == []

    dialog.config.setPlainText('{"argv": ["make", "{target}"]}')
    dialog.concurrency.setValue(3)
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        _ok(dialog)
    agent = queue.get_agent("builder")
    assert (agent.kind, agent.config, agent.concurrency) == ("command", {"argv": ["make", "{target}"]}, 3)
    qtbot.waitUntil(lambda: window.agents.agent_names() == ["builder"])

    dialog = window.agents.add_agent()  # the same name again: refused by the service, shown at the name
    dialog.name.setText("builder")
    _ok(dialog)
    qtbot.waitUntil(lambda: "already exists" in dialog.errors.message("name"))


def test_agent_panel_pauses_and_resumes_an_agent(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("echoer", "echo")
    window = make_window()
    qtbot.waitUntil(lambda: window.agents.agent_names() == ["echoer"])
    window.agents.table.selectRow(0)
    window.agents.pause_action.trigger()
    qtbot.waitUntil(lambda: queue.is_paused("echoer"))
    qtbot.waitUntil(lambda: window.agents.model.lines[0].state == "paused")
    window.agents.resume_action.trigger()
    qtbot.waitUntil(lambda: not queue.is_paused("echoer"))


def test_settings_dialog_validates_saves_and_applies_concurrency(make_window, qtbot, tmp_path: Path) -> None:
    window = make_window()
    dialog = window.open_settings()
    dialog.timeout.setValue(0)
    _ok(dialog)
    assert "more than 0" in dialog.errors.message("timeout_s")
    assert not (tmp_path / "settings.json").exists()

    dialog.timeout.setValue(45)
    dialog.concurrency.setValue(5)
    dialog.retry_base.setValue(2.5)
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        _ok(dialog)
    assert window.pool.settings.concurrency == 5
    assert window.pool.settings.timeout_s == 45
    assert window.service.retry_policy.base_s == 2.5
    stored = json.loads((tmp_path / "settings.json").read_text())
    assert stored["concurrency"] == 5
    assert load_settings(path=tmp_path / "settings.json").timeout_s == 45


def test_agent_panel_removes_an_agent_and_cancels_its_tasks(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("old", "echo")
    queue.pause("old")
    task = queue.enqueue("old", None)
    window = make_window()
    qtbot.waitUntil(lambda: window.agents.agent_names() == ["old"])
    window.agents.table.selectRow(0)
    window.agents.confirm_remove = lambda _agent: (True, True)  # "Remove", with "also cancel its tasks"
    window.agents.remove_action.trigger()
    qtbot.waitUntil(lambda: window.agents.agent_names() == [])
    assert queue.list_agents() == []
    assert queue.get(task.id).status is TaskStatus.CANCELLED


def test_the_agent_dialog_keeps_an_http_agents_secrets_out_of_the_database(
    make_window, queue: TaskQueueService, qtbot, db_path
) -> None:
    import json

    window = make_window()
    dialog = window.agents.add_agent()
    dialog.name.setText("hook")
    dialog.kind.setCurrentText("http")
    config = {"url": "https://deploy:pw-7q7q@example.invalid/x", "headers": {"Authorization": "Bearer tok-ui-1"}}
    dialog.config.setPlainText(json.dumps(config))
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        _ok(dialog)
    stored = queue.get_agent("hook").config
    assert stored["headers"]["Authorization"] == "$secret:agent/hook/headers.Authorization"
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(f"{db_path.name}*"))
    assert b"tok-ui-1" not in raw and b"pw-7q7q" not in raw


def test_a_pool_that_gave_up_on_the_database_shows_why_and_the_workers_as_stopped(make_window, qtbot) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    qtbot.waitUntil(lambda: window.worker_state() == "running")
    window.pool.failed.emit("the database kept failing for 301 s (database_retry_s is 300 s): The disk is full")
    qtbot.waitUntil(lambda: window.worker_state() == "stopped")
    [box] = [b for b in window.findChildren(QMessageBox) if b.objectName() == "errorBox"]
    assert box.windowTitle() == "Workers stopped" and box.text().startswith("The database kept failing for 301 s")


def test_the_agent_dialog_sets_escalation_and_the_limit_of_waiting_tasks(
    make_window, queue: TaskQueueService, qtbot
) -> None:
    window = make_window()
    dialog = window.agents.add_agent()
    dialog.name.setText("limited")
    assert not dialog.escalate_priority.isChecked() and dialog.max_pending.text() == ""
    for typed, shown in (("0", "Must be a whole number, 1 or more (got 0)"),
                         ("many", "Must be a whole number, 1 or more (got 'many')")):
        dialog.max_pending.setText(typed)
        _ok(dialog)
        assert dialog.errors.message("max_pending") == shown  # the engine's rule, at the field
    assert queue.list_agents() == []

    dialog.escalate_priority.setChecked(True)
    dialog.max_pending.setText(" 2 ")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        _ok(dialog)
    agent = queue.get_agent("limited")
    assert (agent.escalate_priority, agent.max_pending) == (True, 2)
    queue.pause("limited")
    queue.enqueue("limited", None)
    queue.enqueue("limited", None)
    with pytest.raises(TaskValidationError, match="max_pending"):  # the limit the dialog set holds
        queue.enqueue("limited", None)

    qtbot.waitUntil(lambda: window.agents.agent_names() == ["limited"])
    model = window.agents.model
    qtbot.waitUntil(lambda: model.lines[0].waiting == 2)
    assert model.index(0, 4).data(Qt.ItemDataRole.ToolTipRole).startswith("2 of at most 2 waiting tasks")
    assert "one priority level higher" in model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)

    window.agents.table.selectRow(0)
    dialog = window.agents.edit_agent()
    assert dialog.escalate_priority.isChecked() and dialog.max_pending.text() == "2"
    dialog.max_pending.setText("-5")
    _ok(dialog)
    assert dialog.errors.message("max_pending") == "Must be a whole number, 1 or more (got -5)"
    assert queue.get_agent("limited").max_pending == 2
    dialog.escalate_priority.setChecked(False)
    dialog.max_pending.setText("")  # no limit
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        _ok(dialog)
    agent = queue.get_agent("limited")
    assert (agent.escalate_priority, agent.max_pending) == (False, None)
    queue.enqueue("limited", None)  # taken now
    qtbot.waitUntil(lambda: "no limit" in model.index(0, 4).data(Qt.ItemDataRole.ToolTipRole))
    assert model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole) == "limited"
