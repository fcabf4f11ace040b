"""NewTaskDialog: add one task, with every field checked before anything is written."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QDateTime, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from desktop.errors import TaskValidationError
from desktop.queue import Task, TaskQueueService
from desktop.ui.form_dialog import FormDialog
from desktop.ui.jobs import Jobs
from desktop.ui.json_edit import JsonEdit

_IDS = re.compile(r"[\s,;]+")


def parse_ids(text: str) -> list[int]:
    """'12, 15 40' -> [12, 15, 40]; TaskValidationError on field depends_on for anything else."""
    ids = []
    for part in _IDS.split(text.strip()):
        if not part:
            continue
        digits = part.lstrip("#")
        if not digits.isdigit() or int(digits) < 1:
            raise TaskValidationError("depends_on", f"{part!r} is not a task id; list ids such as 12, 15")
        ids.append(int(digits))
    return ids


class NewTaskDialog(FormDialog):
    """Agent, payload, priority, when, lock key, retries and dependencies of a new task.

    Signals:
        created(Task): the task was added.
    """

    created = Signal(object)

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, agents: Sequence[str], parent: QWidget | None = None,
        *, agent: str | None = None,
    ) -> None:
        super().__init__("New task", jobs, parent)
        self.service = service
        self.agent = QComboBox(self)
        self.agent.setEditable(True)
        self.agent.addItems(list(agents))
        self.agent.setToolTip("The agent whose action runs this task")
        if agent:
            self.agent.setCurrentText(agent)
        self.add_field("agent", "&Agent:", self.agent)

        self.payload = JsonEdit("payload", self)
        self.payload.setPlaceholderText('{"message": "hello"}')
        self.payload.setMinimumHeight(120)
        self.payload.checked.connect(self._payload_checked)
        self.add_field("payload", "&Payload (JSON):", self.payload, "Empty means null.")

        self.priority = QSpinBox(self)
        self.priority.setRange(1, 5)
        self.priority.setValue(3)
        self.priority.setToolTip("1 (low) to 5 (runs first)")
        self.add_field("priority", "P&riority:", self.priority)

        when = QWidget(self)
        row = QHBoxLayout(when)
        row.setContentsMargins(0, 0, 0, 0)
        self.run_now = QRadioButton("&Now", when)
        self.run_at = QRadioButton("A&t", when)
        self.run_now.setChecked(True)
        group = QButtonGroup(when)
        group.addButton(self.run_now)
        group.addButton(self.run_at)
        self.at = QDateTimeEdit(QDateTime.currentDateTime().addSecs(600), when)
        self.at.setCalendarPopup(True)
        self.at.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.at.setEnabled(False)
        self.run_at.toggled.connect(self.at.setEnabled)
        for widget in (self.run_now, self.run_at, self.at):
            row.addWidget(widget)
        row.addStretch(1)
        self.add_field("scheduled_for", "Run:", when)

        self.lock_key = QLineEdit(self)
        self.lock_key.setPlaceholderText("optional: one running task per key, e.g. repo:my-project")
        self.add_field("lock_key", "&Lock key:", self.lock_key)

        self.max_retries = QSpinBox(self)
        self.max_retries.setRange(-1, 100)
        self.max_retries.setValue(-1)
        self.max_retries.setSpecialValueText("agent's default")
        self.add_field("max_retries", "Max &retries:", self.max_retries)

        self.depends_on = QLineEdit(self)
        self.depends_on.setPlaceholderText("optional: task ids, e.g. 12, 15")
        self.add_field("depends_on", "&Depends on:", self.depends_on)
        self.ok_button.setText("Add task")
        self.fit_size(540)

    def _payload_checked(self, message: str) -> None:
        if message:
            self.errors.show("payload", message)
        else:
            self.errors.clear("payload")

    def scheduled_for(self) -> datetime | None:
        if not self.run_at.isChecked():
            return None
        return datetime.fromtimestamp(self.at.dateTime().toSecsSinceEpoch(), UTC)

    def collect(self) -> Callable[[], Any]:
        agent = self.agent.currentText().strip()
        if not agent:
            raise TaskValidationError("agent", "choose the agent that runs this task")
        payload = self.payload.value()
        depends_on = parse_ids(self.depends_on.text())
        max_retries = None if self.max_retries.value() < 0 else self.max_retries.value()
        lock_key = self.lock_key.text().strip() or None
        arguments: dict[str, Any] = {
            "priority": self.priority.value(),
            "scheduled_for": self.scheduled_for(),
            "max_retries": max_retries,
            "lock_key": lock_key,
            "depends_on": depends_on,
            "created_by": "window",
        }
        service = self.service
        return lambda: service.enqueue(agent, payload, **arguments)

    def succeeded(self, result: Any) -> None:
        task: Task = result
        self.created.emit(task)
        super().succeeded(task)
