"""TaskActions: retry, retry with an edited payload, cancel, delete and copy for tasks, and the
menu a right-click on task rows opens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QWidget

from desktop.errors import AgentQueueError
from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui.error_report import show_error
from desktop.ui.jobs import Jobs
from desktop.ui.retry_dialog import RetryPayloadDialog
from desktop.ui.status_style import plural
from desktop.ui.task_details import task_prompt
from desktop.workers.pool import WorkerPool

RETRYABLE = (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.RETRYING)
# Tasks whose place in the queue can change: they wait to be claimed.
WAITING = (TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BLOCKED, TaskStatus.BACKLOGGED)


def ask(parent: QWidget | None, title: str, text: str, yes: str = "", no: str = "") -> bool:
    """A question with a Yes button (or one named `yes`) and a No button (or `no`), No the default."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    accept = box.addButton(yes or "Yes", QMessageBox.ButtonRole.YesRole)
    box.setDefaultButton(box.addButton(no or "No", QMessageBox.ButtonRole.NoRole))
    box.exec()
    return box.clickedButton() is accept


def can_retry(tasks: Sequence[Task]) -> bool:
    return any(t.status in RETRYABLE for t in tasks)


def can_cancel(tasks: Sequence[Task]) -> bool:
    return any(not t.status.is_finished for t in tasks)


class TaskActions(QObject):
    """Changes tasks on the write thread and says what changed, so tables update their rows.

    Signals:
        changed(list): the tasks as they are after an action.
        deleted(list): ids of deleted tasks.
        message(str): a one-line outcome for the status bar.

    Attributes:
        confirm: asks (parent, title, text, yes, no) -> bool before deleting tasks or stopping
            running ones; tests replace it.
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
        self.confirm: Callable[..., bool] = ask

    def _error(self, title: str) -> Callable[[BaseException], None]:
        return lambda exc: show_error(self.window, exc, title)

    def retry(self, tasks: Sequence[Task]) -> bool:
        """Run failed, cancelled or retrying tasks again now. False if none of them can be."""
        ids = [t.id for t in tasks if t.status in RETRYABLE]
        if not ids:
            self.message.emit("Only failed, cancelled or retrying tasks can be retried.")
            return False
        return self._each(ids, self.service.retry, "Retry", "Retrying {}.", name="retry")

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
        """Cancel unfinished tasks; running ones (after asking) stop at once."""
        ids = [t.id for t in tasks if not t.status.is_finished]
        if not ids:
            self.message.emit("Those tasks are already finished; there is nothing to cancel.")
            return False
        running = [t for t in tasks if t.status is TaskStatus.RUNNING]
        if running:
            first = running[0]
            what = f"task {first.id} ({first.agent})" if len(running) == 1 else plural(len(running), "running task")
            others = len(ids) - len(running)
            also = f" The other {plural(others, 'task')} will be cancelled too." if others else ""
            question = f"Stop {what} now? Its work so far is not kept; the task ends as cancelled.{also}"
            if not self.confirm(self.window, "Cancel running tasks", question, "Stop and cancel", "Keep running"):
                return False
        service, pool = self.service, self.pool

        def finished(result: list[Task]) -> None:
            for task in result:
                if task.status is TaskStatus.RUNNING:
                    pool.cancel_running(task.id)
            self.changed.emit(result)
            self.message.emit(f"Cancelled {plural(len(result), 'task')}.")

        return self.jobs.write(lambda: service.cancel_many(ids), finished, self._error("Cancel"), owner=self, name="cancel")

    def delete(self, tasks: Sequence[Task]) -> bool:
        """Delete finished tasks after asking; unfinished ones in the selection are left alone."""
        ids = [t.id for t in tasks if t.status.is_finished]
        skipped = len(tasks) - len(ids)
        if not ids:
            self.message.emit("Only finished tasks can be deleted; cancel the others first.")
            return False
        note = f" ({plural(skipped, 'unfinished task')} will be kept.)" if skipped else ""
        if not self.confirm(self.window, "Delete tasks", f"Delete {plural(len(ids), 'task')} and their attempts?{note}",
                            "Delete", "Keep"):
            return False
        service = self.service

        def finished(count: Any) -> None:
            self.deleted.emit(ids)
            self.message.emit(f"Deleted {plural(int(count), 'task')}.")

        return self.jobs.write(lambda: service.delete_tasks(ids), finished, self._error("Delete"), owner=self, name="delete")

    def reorder(self, tasks: Sequence[Task], what: str, change: Callable[[int], Task],
                statuses: Sequence[TaskStatus] = WAITING) -> bool:
        """Apply one queue-order change (run now, priority, move, backlog, release) to each task
        in `statuses`, each in its own transaction; refusals are shown together. False if none apply."""
        ids = [t.id for t in tasks if t.status in statuses]
        if not ids:
            names = ", ".join(s.value for s in statuses)
            self.message.emit(f"{what}: only {names} tasks.")
            return False

        return self._each(ids, change, what, f"{what}: {{}}.", name="reorder")

    def _each(self, ids: list[int], change: Callable[[int], Task], title: str, said: str, *, name: str) -> bool:
        """Apply `change` to each task in its own transaction (one refusal spoils no other), then
        say `said` with the number done in place of {} and show the refusals together."""

        def work() -> tuple[list[Task], list[str]]:
            done, problems = [], []
            for task_id in ids:
                try:
                    done.append(change(task_id))
                except AgentQueueError as exc:
                    problems.append(str(exc))
            return done, problems

        def finished(result: tuple[list[Task], list[str]]) -> None:
            done, problems = result
            if done:
                self.changed.emit(done)
                self.pool.wake()
            self.message.emit(said.format(plural(len(done), "task")))
            if problems:
                show_error(self.window, AgentQueueError("\n".join(problems)), title)

        return self.jobs.write(work, finished, self._error(title), owner=self, name=name)

    def run_now(self, tasks: Sequence[Task]) -> bool:
        return self.reorder(tasks, "Run now", self.service.run_now,
                            (TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BACKLOGGED))

    def set_priority(self, tasks: Sequence[Task], priority: int) -> bool:
        return self.reorder(tasks, f"Priority {priority}", lambda i: self.service.set_priority(i, priority))

    def move(self, tasks: Sequence[Task], *, top: bool) -> bool:
        return self.reorder(tasks, "Move to top" if top else "Move to bottom", lambda i: self.service.move(i, top=top))

    def backlog(self, tasks: Sequence[Task]) -> bool:
        return self.reorder(tasks, "Backlog", self.service.backlog,
                            (TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BLOCKED))

    def release(self, tasks: Sequence[Task]) -> bool:
        return self.reorder(tasks, "Release", self.service.release_backlogged, (TaskStatus.BACKLOGGED,))

    def copy(self, text: str, what: str = "the error") -> None:
        if text:
            QApplication.clipboard().setText(text)
            self.message.emit(f"Copied {what} to the clipboard.")

    def copy_ids(self, tasks: Sequence[Task]) -> None:
        ids = [str(t.id) for t in tasks]
        self.copy(" ".join(ids), "the task id" if len(ids) == 1 else f"{len(ids)} task ids")

    def copy_prompt(self, task: Task) -> None:
        prompt = task_prompt(task)
        if prompt is None:
            self.message.emit(f"Task {task.id} has no prompt.")
        else:
            self.copy(prompt, f"the prompt of task {task.id}")

    def menu(self, tasks: Sequence[Task], open_task: Callable[[Task], Any], parent: QWidget) -> QMenu:
        """The menu of task rows: open, retry, cancel, the queue order (run now, priority, move,
        backlog, release), copy id, copy prompt (what does not apply is disabled)."""
        menu = QMenu(parent)
        menu.setObjectName("taskMenu")
        first = tasks[0] if tasks else None
        opened = menu.addAction("&Open details", lambda: open_task(first) if first else None)
        opened.setShortcut("Return")
        opened.setEnabled(len(tasks) == 1)
        menu.addSeparator()
        retry = menu.addAction("&Retry", lambda: self.retry(tasks))
        retry.setShortcut("Ctrl+R")
        retry.setEnabled(can_retry(tasks))
        cancel = menu.addAction("&Cancel…" if any(t.status is TaskStatus.RUNNING for t in tasks) else "&Cancel",
                                lambda: self.cancel(tasks))
        cancel.setShortcut("Ctrl+K")
        cancel.setEnabled(can_cancel(tasks))
        self._queue_order_actions(menu, tasks)
        menu.addSeparator()
        menu.addAction("Copy &id" if len(tasks) == 1 else "Copy &ids", lambda: self.copy_ids(tasks))
        prompt = menu.addAction("Copy &prompt", lambda: self.copy_prompt(first) if first else None)
        prompt.setEnabled(len(tasks) == 1 and first is not None and task_prompt(first) is not None)
        return menu

    def _queue_order_actions(self, menu: QMenu, tasks: Sequence[Task]) -> None:
        """Run now, priority, move to top or bottom, backlog and release (enabled where they apply)."""
        statuses = {t.status for t in tasks}
        waiting = bool(statuses & set(WAITING))
        menu.addSeparator()
        run = menu.addAction("Run &now", lambda: self.run_now(tasks))
        run.setEnabled(bool(statuses & {TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BACKLOGGED}))
        priority = menu.addMenu("Pr&iority")
        priority.setEnabled(waiting)
        for level in range(5, 0, -1):
            label = {5: "5 (runs first)", 1: "1 (low)"}.get(level, str(level))
            priority.addAction(label, lambda level=level: self.set_priority(tasks, level))
        for label, top in (("Move to &top", True), ("Move to &bottom", False)):
            menu.addAction(label, lambda top=top: self.move(tasks, top=top)).setEnabled(waiting)
        backlog = menu.addAction("Bac&klog", lambda: self.backlog(tasks))
        backlog.setEnabled(bool(statuses & {TaskStatus.PENDING, TaskStatus.RETRYING, TaskStatus.BLOCKED}))
        release = menu.addAction("Re&lease from backlog", lambda: self.release(tasks))
        release.setEnabled(TaskStatus.BACKLOGGED in statuses)
