"""RetryPayloadDialog: run a failed task again with an edited payload."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QWidget

from desktop.queue import Task, TaskQueueService
from desktop.ui.form_dialog import FormDialog
from desktop.ui.jobs import Jobs
from desktop.ui.json_edit import JsonEdit


class RetryPayloadDialog(FormDialog):
    """Shows the task's payload for editing; OK retries the task with it (validated first).

    Signals:
        retried(Task): the task is queued again.
    """

    retried = Signal(object)

    def __init__(self, service: TaskQueueService, jobs: Jobs, task: Task, parent: QWidget | None = None) -> None:
        super().__init__(f"Retry task {task.id} with an edited payload", jobs, parent)
        self.service = service
        self.task = task
        about = QLabel(f"Task {task.id} of agent <b>{task.agent}</b> ({task.status.value}).", self)
        self.form.addRow(about)
        self.payload = JsonEdit("payload", self)
        self.payload.set_value(task.payload)
        self.payload.setMinimumHeight(220)
        self.payload.checked.connect(self._checked)
        self.add_field("payload", "&Payload (JSON):", self.payload, "Empty means null.")
        self.ok_button.setText("Retry")
        self.fit_size(580, 440)

    def _checked(self, message: str) -> None:
        if message:
            self.errors.show("payload", message)
        else:
            self.errors.clear("payload")

    def collect(self) -> Callable[[], Any]:
        payload = self.payload.value()
        service, task_id = self.service, self.task.id
        return lambda: service.retry(task_id, payload=payload)

    def succeeded(self, result: Any) -> None:
        self.retried.emit(result)
        super().succeeded(result)
