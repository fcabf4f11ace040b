"""RunningPanel: running tasks with live progress, and the output tail of the selected one.

The output of the task being followed stays on screen when the task ends (it leaves the table),
marked with how it ended, until another task is selected.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import status_colour
from desktop.ui.task_actions import TaskActions
from desktop.ui.task_columns import RUNNING_COLUMNS
from desktop.ui.task_model import TaskTableModel
from desktop.ui.task_queries import TaskFilter
from desktop.ui.task_view import TaskTableView
from desktop.ui.window_state import restore_split_view, save_split_view
from desktop.workers.pool import WorkerPool

TAIL_POLL_MS = 500
DB_TAIL_EVERY = 4  # tasks of other processes: read the stored tail every 4th poll (2 s)


class RunningPanel(QWidget):
    """Progress comes from the pool's signals; the output tail is polled every half second."""

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, pool: WorkerPool, actions: TaskActions,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.pool = pool
        self.task_actions = actions
        self.model = TaskTableModel(service, jobs, RUNNING_COLUMNS, TaskFilter(("running",)), parent=self)
        self.view = TaskTableView(self.model, self)
        self.view.setObjectName("runningTable")
        self.cancel_button = QPushButton("Cancel…", self)
        self.cancel_button.setToolTip("Stop the selected running tasks, after asking (Ctrl+K)")
        self.cancel_button.clicked.connect(lambda: self.task_actions.cancel(self.view.selected_tasks()))
        self.followed: Task | None = None  # whose output the tail shows
        self.ended: Task | None = None  # the followed task, as it ended
        self.tail_title = QLabel("Output", self)
        self.tail_title.setObjectName("outputTitle")
        self.tail_title.setTextFormat(Qt.TextFormat.RichText)
        self.tail = QPlainTextEdit(self)
        self.tail.setObjectName("outputTail")
        self.tail.setReadOnly(True)
        self.tail.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tail.setPlaceholderText("Select a running task to follow its output.")

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.cancel_button)
        bar.addStretch(1)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.view, 1)
        bottom = QWidget(self)
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.tail_title)
        bottom_layout.addWidget(self.tail, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self._polls = 0
        self._timer = QTimer(self)
        self._timer.setInterval(TAIL_POLL_MS)
        self._timer.timeout.connect(self.poll_tail)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.model.rowsRemoved.connect(lambda *_: self._check_followed())
        self.model.modelReset.connect(self._check_followed)
        self._selection_changed()

    def selected_task(self) -> Task | None:
        tasks = self.view.selected_tasks()
        return tasks[0] if tasks else None

    def _selection_changed(self) -> None:
        task = self.selected_task()
        self.cancel_button.setEnabled(task is not None)
        if task is None or (self.followed is not None and task.id == self.followed.id and self.ended is None):
            return  # nothing new to follow: the output shown stays
        self.followed, self.ended = task, None
        self.tail.clear()
        self.tail_title.setText(f"Output of task {task.id} ({task.agent})")
        self._polls = 0
        self.poll_tail()
        self._timer.start()

    def _check_followed(self) -> None:
        """The followed task left the table: it ended. Keep its output, say how it ended."""
        task = self.followed
        if task is None or self.ended is not None or self.model.row_of(task.id) is not None:
            return
        self._timer.stop()
        service = self.service

        def read() -> tuple[Task, str]:
            ended = service.get(task.id)
            attempts = service.attempts(task.id)
            return ended, (attempts[-1].output_tail or "") if attempts else ""

        def done(result: tuple[Task, str]) -> None:
            ended, text = result
            if self.followed is None or self.followed.id != ended.id or ended.status is TaskStatus.RUNNING:
                return
            self.ended = ended
            if text:
                self._show_tail(text)
            colour = status_colour(ended.status.value, self.palette())
            outcome = ended.status.value
            if colour is not None:
                outcome = f'<span style="color:{colour.name()}">{outcome}</span>'
            self.tail_title.setText(
                f"Output of task {ended.id} ({ended.agent}) · <b>{outcome}</b> · kept until you select another task"
            )

        self.jobs.read(read, done, lambda exc: None, owner=self, name="ended-tail")

    def poll_tail(self) -> None:
        task = self.followed
        if task is None or self.ended is not None or self.model.row_of(task.id) is None:
            self._timer.stop()
            return
        self._polls += 1
        text = self.pool.output_tail(task.id)  # in memory, no database: fine on the GUI thread
        if not text and task.lease_owner != self.pool.worker_id and self._polls % DB_TAIL_EVERY == 1:
            self._read_stored_tail(task.id)
            return
        if text or task.lease_owner == self.pool.worker_id:
            self._show_tail(text)

    def _read_stored_tail(self, task_id: int) -> None:
        """A task run by another process: its worker stores the tail with each lease renewal."""
        service = self.service

        def read() -> str:
            attempts = service.attempts(task_id)
            return (attempts[-1].output_tail or "") if attempts else ""

        def done(text: str) -> None:
            if self.followed is not None and self.followed.id == task_id and self.ended is None:
                self._show_tail(text)

        self.jobs.read(read, done, lambda exc: None, owner=self, name="stored-tail", skip_if_busy=True)

    def _show_tail(self, text: str) -> None:
        if text == self.tail.toPlainText():
            return
        bar = self.tail.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        self.tail.setPlainText(text)
        if at_end:
            self.tail.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())

    def set_running(self, tasks: list[Task]) -> None:
        """The running tasks of the latest snapshot: exactly these rows are shown."""
        self.model.sync_tasks(tasks)

    def save_state(self, store: QSettings) -> None:
        save_split_view(store, "running", self.splitter, self.view)

    def restore_state(self, store: QSettings) -> None:
        restore_split_view(store, "running", self.splitter, self.view)
