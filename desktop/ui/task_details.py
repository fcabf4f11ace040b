"""TaskDetails: one task's prompt, payload, result, status, lock key, and every attempt with its
output, error and traceback. The Failed tab shows it under its table; TaskDetailsDialog around it
opens any task from any table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
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
from desktop.ui.coding_review import CodingReview
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import one_line, pretty_json, seconds_text, status_colour, when
from desktop.workspaces.review import Review

ATTEMPT_HEADERS = ("#", "Outcome", "Started", "Duration", "Worker", "Error")


def task_prompt(task: Task) -> str | None:
    """The prompt of a coding task (a payload with a "prompt" text), else None."""
    payload: Any = task.payload
    if isinstance(payload, dict) and isinstance(payload.get("prompt"), str):
        return str(payload["prompt"])
    return None


def task_repo(task: Task) -> str | None:
    payload: Any = task.payload
    if isinstance(payload, dict) and isinstance(payload.get("repo"), str):
        return str(payload["repo"])
    return None


def _text_box(parent: QWidget, *, wrap: bool = False, fixed: bool = True) -> QPlainTextEdit:
    box = QPlainTextEdit(parent)
    box.setReadOnly(True)
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth if wrap else QPlainTextEdit.LineWrapMode.NoWrap)
    if fixed:
        box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return box


def _set_text(box: QPlainTextEdit, text: str) -> None:
    """Replace the text only when it changed, so a refresh keeps the reader's scroll position."""
    if box.toPlainText() != text:
        box.setPlainText(text)


def error_report(task: Task, attempts: list[Attempt]) -> str:
    """The last error and the traceback of the last attempt that has one: what Copy error copies."""
    lines = [f"Task {task.id} ({task.agent}) {task.status.value}: {task.last_error or 'no error recorded'}"]
    for attempt in reversed(attempts):
        if attempt.traceback:
            lines += ["", f"Attempt {attempt.number}:", attempt.traceback.rstrip()]
            break
    return "\n".join(lines)


def attempt_text(attempt: Attempt) -> str:
    """What one attempt left behind: its error, its output tail, its traceback."""
    parts = []
    if attempt.error:
        parts.append(f"Error: {attempt.error}")
    parts.append(attempt.output_tail or "(no output)")
    if attempt.traceback:
        parts.append(attempt.traceback.rstrip())
    return "\n\n".join(parts)


class TaskDetails(QWidget):
    """Shows a task; the attempts are read on a read thread each time a task is shown.

    set_wait_reason() fills the line under the title that says why an unfinished task is not
    running (the engine computes the reason); it is hidden while there is none.
    """

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.task: Task | None = None
        self.attempts: list[Attempt] = []
        self.depends_on: list[int] = []
        self._generation = 0

        self.title = QLabel("Select a task to see its details.", self)
        self.title.setObjectName("detailsTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wait_reason = QLabel("", self)
        self.wait_reason.setObjectName("waitReason")
        self.wait_reason.setWordWrap(True)
        self.wait_reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.wait_reason.hide()
        self.meta = QLabel("", self)
        self.meta.setObjectName("detailsMeta")
        self.meta.setWordWrap(True)
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.tabs = QTabWidget(self)
        self.prompt_page = QWidget(self)
        prompt_layout = QVBoxLayout(self.prompt_page)
        prompt_layout.setContentsMargins(0, 4, 0, 0)
        self.repo = QLabel("", self.prompt_page)
        self.repo.setObjectName("promptRepo")
        self.repo.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt = _text_box(self.prompt_page, wrap=True, fixed=False)  # prose: wrapped, proportional
        self.prompt.setObjectName("promptText")
        prompt_layout.addWidget(self.repo)
        prompt_layout.addWidget(self.prompt, 1)
        self.error = _text_box(self)
        self.error.setObjectName("tracebackText")
        self.payload = _text_box(self)
        self.payload.setObjectName("payloadText")
        self.result = _text_box(self)
        self.result.setObjectName("resultText")
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
        self.attempt_output.setObjectName("attemptOutput")
        self.attempt_output.setPlaceholderText("The error, output tail and traceback of the selected attempt")
        attempts_page.addWidget(self.attempt_table)
        attempts_page.addWidget(self.attempt_output)
        attempts_page.setSizes([120, 160])
        self.attempt_table.itemSelectionChanged.connect(self._attempt_selected)
        self.prompt_tab = self.tabs.addTab(self.prompt_page, "Prompt")
        self.error_tab = self.tabs.addTab(self.error, "Error && traceback")
        self.payload_tab = self.tabs.addTab(self.payload, "Payload")
        self.attempts_tab = self.tabs.addTab(attempts_page, "Attempts")
        self.result_tab = self.tabs.addTab(self.result, "Result")
        self.tabs.setTabVisible(self.prompt_tab, False)
        self.review = CodingReview(service, jobs, self)  # a coding task's pages, shown once read
        self.transcript_tab = self.tabs.addTab(self.review.transcript, "Transcript")
        self.diff_tab = self.tabs.addTab(self.review.diff, "Diff")
        self.summary_tab = self.tabs.addTab(self.review.summary, "Summary")
        self._show_review_tabs(False)
        self._choose_review_tab = False
        self.review.loaded.connect(self._review_loaded)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.wait_reason)
        layout.addWidget(self.meta)
        layout.addWidget(self.tabs, 1)

    # -- showing --------------------------------------------------------------------------------

    def show_task(self, task: Task | None) -> None:
        """Show `task` now; its attempts follow from a read thread (a newer call wins)."""
        self._generation += 1
        new_task = task is None or self.task is None or self.task.id != task.id
        self.task = task
        if task is None:
            self.title.setText("Select a task to see its details.")
            self.meta.clear()
            self.set_wait_reason(None)
            for box in (self.error, self.payload, self.result, self.attempt_output, self.prompt):
                box.clear()
            self.tabs.setTabVisible(self.prompt_tab, False)
            self.attempts = []
            self.attempt_table.setRowCount(0)
            self.review.clear()
            self._show_review_tabs(False)
            return
        if new_task:
            self._choose_review_tab = True
            self.attempts, self.depends_on = [], []
            self.attempt_table.setRowCount(0)
            self.attempt_output.clear()
        self._show_summary(task)
        if new_task:
            self.tabs.setCurrentIndex(self._first_tab(task))
        generation, service, task_id = self._generation, self.service, task.id
        self.jobs.read(
            lambda: (service.attempts(task_id), service.dependencies(task_id), service.wait_reasons([task]).get(task_id)),
            lambda result: self._on_attempts(generation, result),
            lambda exc: self.error.setPlainText(f"Could not read the attempts: {exc}"),
            owner=self,
            name="details",
        )

    def _show_review_tabs(self, visible: bool) -> None:
        for tab in (self.transcript_tab, self.diff_tab, self.summary_tab):
            self.tabs.setTabVisible(tab, visible)

    def _review_loaded(self, review: Review) -> None:
        """A coding task's review pages appear once read; a new task opens on its transcript while
        it runs, else on its summary (a failure keeps its error first)."""
        self._show_review_tabs(review.is_coding)
        task = self.task
        if not (self._choose_review_tab and review.is_coding and task is not None):
            return
        self._choose_review_tab = False
        if self.tabs.currentIndex() == self.error_tab:
            return
        self.tabs.setCurrentIndex(self.transcript_tab if task.status is TaskStatus.RUNNING else self.summary_tab)

    def set_wait_reason(self, text: str | None) -> None:
        """Why the task is not running yet ('waiting for task 12 (running)'); None hides the line."""
        self.wait_reason.setText(f"Waiting: {text}" if text else "")
        self.wait_reason.setVisible(bool(text))

    def _first_tab(self, task: Task) -> int:
        if task.last_error and task.status in (TaskStatus.FAILED, TaskStatus.RETRYING):
            return self.error_tab
        if task_prompt(task) is not None:
            return self.prompt_tab
        if task.status is TaskStatus.COMPLETED and task.result is not None:
            return self.result_tab
        return self.payload_tab

    def _show_summary(self, task: Task) -> None:
        colour = status_colour(task.status.value, self.palette())
        status = task.status.value
        if task.cancel_requested and task.status is TaskStatus.RUNNING:
            status = "running (cancelling)"
        shown = f'<span style="color:{colour.name()}">{status}</span>' if colour else status
        tries = f"{task.attempts} of {task.max_retries + 1} attempts"
        self.title.setText(f"<b>Task {task.id}</b> · agent <b>{task.agent}</b> · {shown} · {tries}")
        parts = [f"created {when(task.created_at)}"]
        if task.status in (TaskStatus.PENDING, TaskStatus.BLOCKED) and task.scheduled_for > task.created_at:
            parts.append(f"scheduled for {when(task.scheduled_for)}")
        if task.status is TaskStatus.RETRYING:
            parts.append(f"next attempt {when(task.scheduled_for)}")
        if task.started_at:
            parts.append(f"started {when(task.started_at)}")
        if task.finished_at:
            parts.append(f"finished {when(task.finished_at)}")
        parts.append(f"lock key {task.lock_key}" if task.lock_key else "no lock key")
        if task.task_type:
            parts.append(f"type {task.task_type}")
        parts.append(f"priority {task.priority}")
        if self.depends_on and self.task and self.task.id == task.id:
            parts.append("depends on " + ", ".join(map(str, self.depends_on)))
        if task.created_by:
            parts.append(f"added by {task.created_by}")
        self.meta.setText(" · ".join(parts))
        prompt = task_prompt(task)
        self.tabs.setTabVisible(self.prompt_tab, prompt is not None)
        if prompt is not None:
            repo = task_repo(task)
            self.repo.setText(f"Repository: {repo}" if repo else "No repository")
            _set_text(self.prompt, prompt)
        _set_text(self.payload, pretty_json(task.payload))
        _set_text(self.result, "" if task.result is None else pretty_json(task.result))
        self.tabs.setTabVisible(self.result_tab, task.result is not None)
        errors = bool(task.last_error) or any(a.error or a.traceback for a in self.attempts)
        self.tabs.setTabVisible(self.error_tab, errors)
        if not self.attempts or self.attempts[0].task_id != task.id:
            _set_text(self.error, task.last_error or "")

    def _on_attempts(self, generation: int, result: tuple[list[Attempt], list[int], str | None]) -> None:
        if generation != self._generation or self.task is None:
            return
        previous = self.attempts
        self.attempts, self.depends_on, waiting = result
        self.set_wait_reason(waiting)
        self._show_summary(self.task)
        self.review.show_task(self.task, self.attempts)
        _set_text(self.error, self.error_text())
        if previous == self.attempts and self.attempt_table.rowCount() == len(self.attempts):
            return  # unchanged: keep the selected attempt and the scroll position
        selected = self.attempt_table.currentRow()
        follow_last = selected < 0 or selected == len(previous) - 1
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
                colour = status_colour(attempt.outcome, self.palette()) if column == 1 else None
                if colour is not None:
                    item.setForeground(colour)
                if column == 5 and attempt.error:
                    item.setToolTip(attempt.error[:2000])
                table.setItem(row, column, item)
        if self.attempts:
            row = len(self.attempts) - 1 if follow_last else min(selected, len(self.attempts) - 1)
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            table.selectionModel().setCurrentIndex(table.model().index(row, 0), flags)
            self._attempt_selected()

    def _attempt_selected(self) -> None:
        rows = self.attempt_table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.attempts):
            self.attempt_output.clear()
            return
        _set_text(self.attempt_output, attempt_text(self.attempts[rows[0].row()]))

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
