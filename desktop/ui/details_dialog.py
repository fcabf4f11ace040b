"""TaskDetailsDialog: any task opened from any table (double-click, Enter, or its menu).

It is not modal: several can stay open beside the window. An unfinished task's dialog reads the
task again with each snapshot of the queue, so it follows the task to its end.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QVBoxLayout, QWidget

from desktop.config import Settings
from desktop.queue import Task, TaskQueueService
from desktop.ui.jobs import Jobs
from desktop.ui.review_bar import ReviewBar
from desktop.ui.task_actions import TaskActions, can_cancel, can_retry
from desktop.ui.task_details import TaskDetails, task_prompt
from desktop.workspaces.review import Review


class TaskDetailsDialog(QDialog):
    """The details of one task, with Retry, Cancel, Copy id and Copy prompt; a coding task's also
    with the ReviewBar (its worktree, follow-up, push, discard)."""

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, actions: TaskActions, task: Task, parent: QWidget | None = None,
        *, settings: Callable[[], Settings] = Settings,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("taskDetailsDialog")
        self.service = service
        self.jobs = jobs
        self.task_actions = actions
        self.details = TaskDetails(service, jobs, self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.retry_button = self._button(buttons, "&Retry", "Run the task again now, with fresh retries",
                                         lambda: actions.retry([self.task]))
        self.cancel_button = self._button(buttons, "&Cancel task", "Cancel the task (running: after asking)",
                                          lambda: actions.cancel([self.task]))
        self.copy_id_button = self._button(buttons, "Copy &id", "Copy the task's id",
                                           lambda: actions.copy_ids([self.task]))
        self.copy_prompt_button = self._button(buttons, "Copy &prompt", "Copy the task's prompt",
                                               lambda: actions.copy_prompt(self.task))
        buttons.rejected.connect(self.reject)
        self.review_bar = ReviewBar(service, jobs, actions, settings, self)
        self.review_bar.hide()
        self.details.review.loaded.connect(self._review_loaded)
        self.review_bar.done.connect(lambda: self.details.show_task(self.task))
        layout = QVBoxLayout(self)
        layout.addWidget(self.details, 1)
        layout.addWidget(self.review_bar)
        layout.addWidget(buttons)
        self.show_task(task)
        self._fit()

    def _button(self, box: QDialogButtonBox, text: str, tip: str, slot: object) -> QPushButton:
        button = box.addButton(text, QDialogButtonBox.ButtonRole.ActionRole)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        return button

    def _fit(self) -> None:
        width, height = 860, 620
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 60)
        self.resize(width, height)

    @property
    def task(self) -> Task:
        assert self.details.task is not None
        return self.details.task

    def show_task(self, task: Task) -> None:
        self.setWindowTitle(f"Task {task.id} ({task.agent}): {task.status.value}")
        self.details.show_task(task)
        self.retry_button.setEnabled(can_retry([task]))
        self.cancel_button.setEnabled(can_cancel([task]))
        self.copy_prompt_button.setEnabled(task_prompt(task) is not None)

    def _review_loaded(self, review: Review) -> None:
        self.review_bar.setVisible(review.is_coding)
        self.review_bar.set_review(self.task, review)

    def apply_task(self, task: Task) -> None:
        """A task changed somewhere: show it if it is this dialog's task."""
        if task.id == self.task.id and task != self.task:
            self.show_task(task)

    def refresh(self) -> None:
        """Read the task again (its attempts follow) while it is unfinished."""
        if self.task.status.is_finished:
            return
        service, task_id = self.service, self.task.id
        self.jobs.read(lambda: service.get(task_id), self.apply_task, lambda exc: None,
                       owner=self, name=f"details-{task_id}", skip_if_busy=True)
        if self.details.attempts and self.details.attempts[-1].finished_at is None:
            self.details.show_task(self.task)  # the running attempt's output tail grows


def open_details(
    dialogs: dict[int, TaskDetailsDialog], service: TaskQueueService, jobs: Jobs, actions: TaskActions,
    task: Task, parent: QWidget, *, settings: Callable[[], Settings] = Settings,
) -> TaskDetailsDialog:
    """Show `task`'s dialog: the one already open for it, raised, or a new one."""
    dialog = dialogs.get(task.id)
    if dialog is None:
        dialog = TaskDetailsDialog(service, jobs, actions, task, parent, settings=settings)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialogs[task.id] = dialog
        dialog.finished.connect(lambda *_: dialogs.pop(task.id, None))
        dialog.show()
    else:
        dialog.apply_task(task)
    dialog.raise_()
    dialog.activateWindow()
    return dialog
