"""PromptBar: queue a prompt for an agent in a repository without opening a dialog.

Ctrl+Enter (or Queue) enqueues ``{"prompt": ..., "repo": ...}`` with the repository's lock key,
so one task at a time works in a repository. The repository field offers the ones typed before
(kept in QSettings). Bad input is explained under the bar, naming the field; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QWidget,
)

from desktop.errors import AgentQueueError, TaskValidationError
from desktop.queue import Task, TaskQueueService, repo_lock_key
from desktop.ui.error_report import user_message
from desktop.ui.field_errors import FieldErrors, error_label
from desktop.ui.jobs import Jobs

RECENT_KEY = "prompt/recent_repos"
RECENT_MAX = 12
FIELD_TITLES = {"agent": "Agent", "prompt": "Prompt", "payload": "Prompt", "repo": "Repository",
                "lock_key": "Repository", "priority": "Priority"}


def prompt_task(agent: str, prompt: str, repo: str) -> tuple[dict[str, Any], str | None]:
    """The payload and lock key for a prompt; TaskValidationError names the field that is wrong.

    A local repository is given as its absolute path (an agent's `cwd`); a remote one as typed.
    """
    if not agent.strip():
        raise TaskValidationError("agent", "choose the agent that works on this prompt (add one under Agents)")
    if not prompt.strip():
        raise TaskValidationError("prompt", "type what the agent should do")
    payload: dict[str, Any] = {"prompt": prompt.strip()}
    repo = repo.strip()
    if not repo:
        return payload, None
    try:
        key = repo_lock_key(repo)
    except ValueError as exc:
        raise TaskValidationError("repo", str(exc)) from None
    if key.startswith("path:"):
        folder = Path(key.removeprefix("path:"))
        if not folder.is_dir():
            raise TaskValidationError("repo", f"there is no folder {folder}")
        repo = str(folder)
    payload["repo"] = repo
    return payload, key


class PromptEdit(QPlainTextEdit):
    """A multi-line prompt; Ctrl+Enter submits it (Enter alone starts a new line).

    Signals:
        submitted(): Ctrl+Enter was pressed.
    """

    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class PromptBar(QFrame):
    """Signals:
        created(Task): a prompt was queued.
    """

    created = Signal(object)

    def __init__(self, service: TaskQueueService, jobs: Jobs, store: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.service = service
        self.jobs = jobs
        self.store = store
        self._busy = False

        self.prompt = PromptEdit(self)
        self.prompt.setObjectName("promptEdit")
        self.prompt.setPlaceholderText("Type a prompt for the agent… Ctrl+Enter queues it.")
        self.prompt.setTabChangesFocus(True)
        lines = self.prompt.fontMetrics().lineSpacing()
        self.prompt.setMinimumHeight(3 * lines + 12)
        self.prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.prompt.submitted.connect(self.submit)
        self.agent = QComboBox(self)
        self.agent.setObjectName("promptAgent")
        self.agent.setToolTip("The agent that works on the prompt (the one selected under Agents)")
        self.agent.setMinimumContentsLength(12)
        self.agent.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.repo = QComboBox(self)
        self.repo.setObjectName("promptRepo")
        self.repo.setEditable(True)
        self.repo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.repo.setMinimumContentsLength(20)
        self.repo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        line = self.repo.lineEdit()
        assert line is not None  # an editable combo box has one
        line.setPlaceholderText("repository (folder or URL)")
        self.repo.setToolTip("The repository the agent works in; one task at a time per repository")
        self.repo.addItems(self.recent_repos())
        self.repo.setCurrentIndex(0 if self.repo.count() else -1)
        browse = QToolButton(self)
        browse.setText("…")
        browse.setToolTip("Choose the repository's folder")
        browse.clicked.connect(self._browse)
        self.priority = QSpinBox(self)
        self.priority.setObjectName("promptPriority")
        self.priority.setRange(1, 5)
        self.priority.setValue(3)
        self.priority.setPrefix("priority ")
        self.priority.setToolTip("1 (low) to 5 (runs first)")
        self.queue_button = QPushButton("&Queue", self)
        self.queue_button.setObjectName("promptQueue")
        self.queue_button.setToolTip("Queue the prompt for the agent (Ctrl+Enter)")
        self.queue_button.clicked.connect(self.submit)
        self.error = error_label(self)
        self.errors = FieldErrors(self.error)
        for name, widget in (("agent", self.agent), ("prompt", self.prompt), ("payload", self.prompt),
                             ("repo", self.repo), ("lock_key", self.repo), ("priority", self.priority)):
            self.errors.register(name, widget, self.error)

        grid = QGridLayout(self)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.prompt, 0, 0, 3, 1)
        grid.addWidget(self.agent, 0, 1, 1, 2)
        grid.addWidget(self.repo, 1, 1)
        grid.addWidget(browse, 1, 2)
        grid.addWidget(self.priority, 2, 1)
        grid.addWidget(self.queue_button, 2, 2)
        grid.addWidget(self.error, 3, 0, 1, 3)
        grid.setColumnStretch(0, 1)

    # -- choices --------------------------------------------------------------------------------

    def set_agents(self, names: Sequence[str]) -> None:
        """Offer these agents, keeping the chosen one."""
        current = self.agent.currentText()
        if [self.agent.itemText(i) for i in range(self.agent.count())] == list(names):
            return
        blocked = self.agent.blockSignals(True)
        self.agent.clear()
        self.agent.addItems(list(names))
        self.agent.setCurrentIndex(max(0, self.agent.findText(current)) if names else -1)
        self.agent.blockSignals(blocked)

    def set_agent(self, name: str) -> None:
        index = self.agent.findText(name)
        if index >= 0:
            self.agent.setCurrentIndex(index)

    def recent_repos(self) -> list[str]:
        value = self.store.value(RECENT_KEY, [])
        items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
        return [str(item) for item in items if item][:RECENT_MAX]

    def _remember(self, repo: str) -> None:
        recent = [repo, *[r for r in self.recent_repos() if r != repo]][:RECENT_MAX]
        self.store.setValue(RECENT_KEY, recent)
        blocked = self.repo.blockSignals(True)
        self.repo.clear()
        self.repo.addItems(recent)
        self.repo.setCurrentIndex(0)
        self.repo.blockSignals(blocked)

    def _browse(self) -> None:
        start = self.repo.currentText() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Repository folder", start)
        if folder:
            self.repo.setCurrentText(folder)

    # -- queueing -------------------------------------------------------------------------------

    def submit(self) -> bool:
        """Check the bar and queue the prompt on the write thread; False if refused (or busy)."""
        if self._busy:
            return False
        self.errors.clear()
        try:
            payload, lock_key = prompt_task(
                self.agent.currentText(), self.prompt.toPlainText(), self.repo.currentText()
            )
        except TaskValidationError as exc:
            self._show(exc)
            return False
        agent, priority, service = self.agent.currentText().strip(), self.priority.value(), self.service
        self._set_busy(True)
        return self.jobs.write(
            lambda: service.enqueue(agent, payload, priority=priority, lock_key=lock_key, created_by="window"),
            lambda task: self._queued(task, payload),
            self._failed,
            owner=self,
            name="prompt",
        )

    def _queued(self, task: Task, payload: dict[str, Any]) -> None:
        self._set_busy(False)
        self.prompt.clear()
        if "repo" in payload:
            self._remember(payload["repo"])
        self.created.emit(task)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, TaskValidationError):
            self._show(exc)
        else:
            self.errors.show("", str(exc) if isinstance(exc, AgentQueueError) else user_message(exc))

    def _show(self, exc: TaskValidationError) -> None:
        field = exc.field.split(".")[0].split("[")[0]
        title = FIELD_TITLES.get(field, exc.field)
        self.errors.show(exc.field, f"{title}: {exc.rule}")

    def message(self) -> str:
        """The error shown now ('' if none)."""
        return self.error.text() if not self.error.isHidden() else ""

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.queue_button.setEnabled(not busy)
