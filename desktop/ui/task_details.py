"""TaskDetails: one task's payload, last error, traceback, every attempt and its output tail."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import Attempt, Task, TaskQueueService, TaskStatus
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import (
    STATUS_COLOURS,
    one_line,
    pretty_json,
    seconds_text,
    when,
)

OUTCOME_COLOURS = {
    "completed": STATUS_COLOURS["completed"], "failed": STATUS_COLOURS["failed"],
    "lost": STATUS_COLOURS["retrying"], "cancelled": STATUS_COLOURS["cancelled"],
    "running": STATUS_COLOURS["running"], "interrupted": STATUS_COLOURS["pending"],
}
ATTEMPT_HEADERS = ("#", "Outcome", "Started", "Duration", "Worker", "Error")


def _text_box(parent: QWidget) -> QPlainTextEdit:
    box = QPlainTextEdit(parent)
    box.setReadOnly(True)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return box


def error_report(task: Task, attempts: list[Attempt]) -> str:
    """The last error and the traceback of the last attempt that has one: what Copy error copies."""
    lines = [f"Task {task.id} ({task.agent}) {task.status.value}: {task.last_error or 'no error recorded'}"]
    for attempt in reversed(attempts):
        if attempt.traceback:
            lines += ["", f"Attempt {attempt.number}:", attempt.traceback.rstrip()]
            break
    return "\n".join(lines)


class TaskDetails(QWidget):
    """Shows a task; the attempts are read on a read thread each time a task is shown."""

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.task: Task | None = None
        self.attempts: list[Attempt] = []
        self.depends_on: list[int] = []
        self._generation = 0

        self.title = QLabel("Select a task to see its details.", self)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta = QLabel("", self)
        self.meta.setWordWrap(True)
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.tabs = QTabWidget(self)
        self.error = _text_box(self)
        self.error.setObjectName("tracebackText")
        self.payload = _text_box(self)
        self.result = _text_box(self)
        attempts_page = QSplitter(Qt.Orientation.Vertical, self)
        self.attempt_table = QTableWidget(0, len(ATTEMPT_HEADERS), attempts_page)
        self.attempt_table.setHorizontalHeaderLabels(list(ATTEMPT_HEADERS))
        self.attempt_table.verticalHeader().hide()
        self.attempt_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.attempt_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.attempt_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.attempt_table.setShowGrid(False)
        self.attempt_table.setWordWrap(False)
        self.attempt_table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.attempt_table.horizontalHeader().setStretchLastSection(True)
        self.attempt_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((36, 90, 140, 80, 180)):
            self.attempt_table.setColumnWidth(column, width)
        self.attempt_output = _text_box(attempts_page)
        self.attempt_output.setPlaceholderText("The output tail of the selected attempt")
        attempts_page.addWidget(self.attempt_table)
        attempts_page.addWidget(self.attempt_output)
        attempts_page.setSizes([120, 160])
        self.attempt_table.itemSelectionChanged.connect(self._attempt_selected)
        self.tabs.addTab(self.error, "Error && traceback")
        self.tabs.addTab(self.payload, "Payload")
        self.tabs.addTab(attempts_page, "Attempts")
        self.tabs.addTab(self.result, "Result")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.meta)
        layout.addWidget(self.tabs, 1)

    # -- showing --------------------------------------------------------------------------------

    def show_task(self, task: Task | None) -> None:
        """Show `task` now; its attempts follow from a read thread (a newer call wins)."""
        self._generation += 1
        self.task = task
        if task is None:
            self.title.setText("Select a task to see its details.")
            self.meta.clear()
            for box in (self.error, self.payload, self.result, self.attempt_output):
                box.clear()
            self.attempt_table.setRowCount(0)
            return
        self._show_summary(task)
        if self.attempts and self.attempts[0].task_id != task.id:
            self.attempts = []
            self.attempt_table.setRowCount(0)
            self.attempt_output.clear()
        generation, service, task_id = self._generation, self.service, task.id
        self.jobs.read(
            lambda: (service.attempts(task_id), service.dependencies(task_id)),
            lambda result: self._on_attempts(generation, result),
            lambda exc: self.error.setPlainText(f"Could not read the attempts: {exc}"),
            owner=self,
            name="details",
        )

    def _show_summary(self, task: Task) -> None:
        colour = STATUS_COLOURS.get(task.status.value)
        status = f'<span style="color:{colour.name()}">{task.status.value}</span>' if colour else task.status.value
        tries = f"{task.attempts} of {task.max_retries + 1} attempts"
        self.title.setText(f"<b>Task {task.id}</b> · agent <b>{task.agent}</b> · {status} · {tries}")
        parts = [f"created {when(task.created_at)}"]
        if task.status is TaskStatus.RETRYING:
            parts.append(f"next attempt {when(task.scheduled_for)}")
        if task.finished_at:
            parts.append(f"finished {when(task.finished_at)}")
        if task.lock_key:
            parts.append(f"lock key {task.lock_key}")
        if task.task_type:
            parts.append(f"type {task.task_type}")
        parts.append(f"priority {task.priority}")
        if self.depends_on and self.task and self.task.id == task.id:
            parts.append("depends on " + ", ".join(map(str, self.depends_on)))
        self.meta.setText(" · ".join(parts))
        self.payload.setPlainText(pretty_json(task.payload))
        self.result.setPlainText("" if task.result is None else pretty_json(task.result))
        if not self.attempts or self.attempts[0].task_id != task.id:
            self.error.setPlainText(task.last_error or "")

    def _on_attempts(self, generation: int, result: tuple[list[Attempt], list[int]]) -> None:
        if generation != self._generation or self.task is None:
            return
        self.attempts, self.depends_on = result
        self._show_summary(self.task)
        self.error.setPlainText(self.error_text())
        table = self.attempt_table
        table.setRowCount(len(self.attempts))
        for row, attempt in enumerate(self.attempts):
            duration = None if attempt.duration_ms is None else attempt.duration_ms / 1000
            cells = (
                str(attempt.number), attempt.outcome, when(attempt.started_at),
                seconds_text(duration) if duration is not None else "running",
                attempt.worker_id, one_line(attempt.error),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 1 and attempt.outcome in OUTCOME_COLOURS:
                    item.setForeground(OUTCOME_COLOURS[attempt.outcome])
                if column == 5 and attempt.error:
                    item.setToolTip(attempt.error[:2000])
                table.setItem(row, column, item)
        if self.attempts:
            table.selectRow(len(self.attempts) - 1)

    def _attempt_selected(self) -> None:
        rows = self.attempt_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.attempts):
            self.attempt_output.clear()
            return
        attempt = self.attempts[rows[0].row()]
        text = attempt.output_tail or "(no output)"
        if attempt.traceback:
            text += "\n\n" + attempt.traceback.rstrip()
        self.attempt_output.setPlainText(text)

    def error_text(self) -> str:
        """The last error with the newest traceback, as shown and as copied."""
        if self.task is None:
            return ""
        body = [self.task.last_error or "No error recorded."]
        for attempt in reversed(self.attempts):
            if attempt.traceback:
                ended = f", {when(attempt.finished_at)}" if attempt.finished_at else ""
                body += ["", f"Attempt {attempt.number} ({attempt.outcome}{ended}):", attempt.traceback.rstrip()]
                break
        return "\n".join(body)

    def copy_text(self) -> str:
        return error_report(self.task, self.attempts) if self.task else ""
