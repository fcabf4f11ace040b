"""FailedPanel: failed and retrying tasks, the selected one's error, traceback and attempts."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QVBoxLayout, QWidget

from desktop.queue import Task, TaskQueueService
from desktop.ui.jobs import Jobs
from desktop.ui.task_actions import RETRYABLE, TaskActions, can_cancel
from desktop.ui.task_columns import FAILED_COLUMNS
from desktop.ui.task_details import TaskDetails
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import TaskFilter
from desktop.ui.task_view import TaskTableView
from desktop.ui.window_state import restore_split_view, save_split_view

FAILED_FILTER = TaskFilter(("failed", "retrying"))


class FailedPanel(QWidget):
    """The table on top, the details below; a retrying task shows when it runs next."""

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, actions: TaskActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.task_actions = actions
        self.model = TaskTableModel(service, jobs, FAILED_COLUMNS, FAILED_FILTER, parent=self)
        self.view = TaskTableView(self.model, self)
        self.view.setObjectName("failedTable")
        self.details = TaskDetails(service, jobs, self)

        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip("Run the selected tasks again now, with fresh retries (Ctrl+R)")
        self.retry_button.clicked.connect(self.retry)
        self.edit_button = QPushButton("Retry with edited payload…", self)
        self.edit_button.setToolTip("Edit the payload of the selected task, then run it again")
        self.edit_button.clicked.connect(self.retry_with_payload)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Cancel the selected retrying tasks (failed ones are already finished)")
        self.cancel_button.clicked.connect(lambda: self.task_actions.cancel(self.view.selected_tasks()))
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.setToolTip("Delete the selected failed tasks and their attempts")
        self.delete_button.clicked.connect(lambda: self.task_actions.delete(self.view.selected_tasks()))
        self.copy_button = QPushButton("Copy error", self)
        self.copy_button.setToolTip("Copy the error and traceback of the selected task")
        self.copy_button.clicked.connect(lambda: self.task_actions.copy(self.details.copy_text()))
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for button in (self.retry_button, self.edit_button, self.cancel_button, self.delete_button, self.copy_button):
            bar.addWidget(button)
        bar.addStretch(1)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.view, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 470])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.model.dataChanged.connect(self._rows_changed)
        self.model.modelReset.connect(self._selection_changed)
        self._selection_changed()

    def selected_tasks(self) -> list[Task]:
        return self.view.selected_tasks()

    def retry(self) -> None:
        self.task_actions.retry(self.view.selected_tasks())

    def retry_with_payload(self) -> None:
        tasks = self.view.selected_tasks()
        if tasks:
            self.task_actions.retry_with_payload(tasks[0])

    def select_first(self) -> None:
        if self.model.rowCount():
            self.view.select_only(0)

    def _selection_changed(self) -> None:
        tasks = self.view.selected_tasks()
        shown = tasks[0] if tasks else None
        if shown != self.details.task:
            self.details.show_task(shown)
        one = len(tasks) == 1
        self.edit_button.setEnabled(one and tasks[0].status in RETRYABLE)
        self.copy_button.setEnabled(one)
        self.retry_button.setEnabled(any(t.status in RETRYABLE for t in tasks))
        self.cancel_button.setEnabled(can_cancel(tasks))  # failed tasks are finished: only retrying ones
        self.delete_button.setEnabled(any(t.status.is_finished for t in tasks))

    def _rows_changed(self, top: QModelIndex, bottom: QModelIndex) -> None:
        current = self.details.task
        if current is None:
            return
        row = self.model.row_of(current.id)
        if row is not None and top.row() <= row <= bottom.row():
            task = self.model.task_at(row)
            if task is not None and task != current:
                self.details.show_task(task)
                self._selection_changed()

    def refresh_live(self) -> None:
        self.model.sync_head()
        self.model.refresh_rows(self.view.visible_ids())

    def save_state(self, store: QSettings) -> None:
        save_split_view(store, "failed", self.splitter, self.view)

    def restore_state(self, store: QSettings) -> None:
        restore_split_view(store, "failed", self.splitter, self.view)
