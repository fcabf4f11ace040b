"""TaskActions: retry, retry with an edited payload, cancel, delete and copy-error for tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop.errors import AgentQueueError
from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui.error_report import show_error
from desktop.ui.jobs import Jobs
from desktop.ui.retry_dialog import RetryPayloadDialog
from desktop.workers.pool import WorkerPool

RETRYABLE = (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.RETRYING)


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


class TaskActions(QObject):
    """Changes tasks on the write thread and says what changed, so tables update their rows.

    Signals:
        changed(list): the tasks as they are after an action.
        deleted(list): ids of deleted tasks.
        message(str): a one-line outcome for the status bar.

    Attributes:
        confirm: asks (parent, title, text) -> bool before deleting; tests replace it.
    """

    changed = Signal(list)
    deleted = Signal(list)
    message = Signal(str)

    def __init__(self, service: TaskQueueService, jobs: Jobs, pool: WorkerPool, window: QWidget) -> None:
        super().__init__(window)
        self.service = service
        self.jobs = jobs
        self.pool = pool
        self.window = window
        self.confirm: Callable[[QWidget | None, str, str], bool] = ask

    def _error(self, title: str) -> Callable[[BaseException], None]:
        return lambda exc: show_error(self.window, exc, title)

    def retry(self, tasks: Sequence[Task]) -> bool:
        """Run failed, cancelled or retrying tasks again now. False if none of them can be."""
        ids = [t.id for t in tasks if t.status in RETRYABLE]
        if not ids:
            self.message.emit("Only failed, cancelled or retrying tasks can be retried.")
            return False
        service = self.service

        def work() -> tuple[list[Task], list[str]]:
            done, problems = [], []
            for task_id in ids:  # each retry is its own transaction: one refusal spoils no other
                try:
                    done.append(service.retry(task_id))
                except AgentQueueError as exc:
                    problems.append(str(exc))
            return done, problems

        def finished(result: tuple[list[Task], list[str]]) -> None:
            done, problems = result
            if done:
                self.changed.emit(done)
                self.pool.wake()
            self.message.emit(f"Retrying {_plural(len(done), 'task')}.")
            if problems:
                show_error(self.window, AgentQueueError("\n".join(problems)), "Retry")

        return self.jobs.write(work, finished, self._error("Retry"), owner=self, name="retry")

    def retry_with_payload(self, task: Task) -> RetryPayloadDialog | None:
        if task.status not in RETRYABLE:
            self.message.emit(f"Task {task.id} is {task.status.value}; only failed, cancelled or retrying tasks can be retried.")
            return None
        dialog = RetryPayloadDialog(self.service, self.jobs, task, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.retried.connect(lambda t: (self.changed.emit([t]), self.pool.wake(),
                                          self.message.emit(f"Retrying task {t.id} with the edited payload.")))
        dialog.open()
        return dialog

    def cancel(self, tasks: Sequence[Task]) -> bool:
        """Cancel unfinished tasks; running ones of this window's pool stop at once."""
        ids = [t.id for t in tasks if not t.status.is_finished]
        if not ids:
            self.message.emit("Those tasks are already finished; there is nothing to cancel.")
            return False
        service, pool = self.service, self.pool

        def finished(result: list[Task]) -> None:
            for task in result:
                if task.status is TaskStatus.RUNNING:
                    pool.cancel_running(task.id)
            self.changed.emit(result)
            self.message.emit(f"Cancelled {_plural(len(result), 'task')}.")

        return self.jobs.write(lambda: service.cancel_many(ids), finished, self._error("Cancel"), owner=self, name="cancel")

    def delete(self, tasks: Sequence[Task]) -> bool:
        """Delete finished tasks after asking; unfinished ones in the selection are left alone."""
        ids = [t.id for t in tasks if t.status.is_finished]
        skipped = len(tasks) - len(ids)
        if not ids:
            self.message.emit("Only finished tasks can be deleted; cancel the others first.")
            return False
        note = f" ({_plural(skipped, 'unfinished task')} will be kept.)" if skipped else ""
        if not self.confirm(self.window, "Delete tasks", f"Delete {_plural(len(ids), 'task')} and their attempts?{note}"):
            return False
        service = self.service

        def finished(count: Any) -> None:
            self.deleted.emit(ids)
            self.message.emit(f"Deleted {_plural(int(count), 'task')}.")

        return self.jobs.write(lambda: service.delete_tasks(ids), finished, self._error("Delete"), owner=self, name="delete")

    def copy(self, text: str) -> None:
        if text:
            QApplication.clipboard().setText(text)
            self.message.emit("Copied the error to the clipboard.")
