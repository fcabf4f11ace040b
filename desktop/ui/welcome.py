"""The welcome panel: an empty queue is not a blank screen.

Shown while the queue has no agents and no tasks. It says where Agent Queue keeps its data and
offers to create example agents and demo tasks, so a new user sees priorities, scheduling,
retries and the failed-task view at work within seconds.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import paths
from desktop.config import settings_path
from desktop.demo import check_git_repository, create_example_agents, enqueue_demo_tasks
from desktop.errors import TaskValidationError
from desktop.queue import Task, TaskQueueService
from desktop.ui.field_errors import error_label
from desktop.ui.jobs import Jobs


class WelcomePanel(QFrame):
    """Signals:
    examples_added(list): the demo tasks that were queued.
    dismissed(): the user closed the panel.
    """

    examples_added = Signal(list)
    dismissed = Signal()

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.setObjectName("welcome")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        title = QLabel("<b>Welcome to Agent Queue</b>", self)
        where = QLabel(self)
        where.setTextInteractionFlags(where.textInteractionFlags() | where.textInteractionFlags().TextSelectableByMouse)
        where.setWordWrap(True)
        where.setText(
            "Your queue is kept in <code>{db}</code>; settings in <code>{cfg}</code>; logs in "
            "<code>{logs}</code>.<br>Nothing runs yet: add an agent, or try the examples: an "
            "<i>echo</i>, a <i>sleep</i>, an agent that fails on purpose (and retries), and "
            "<i>git status</i> in a git repository of yours.".format(
                db=service.url.removeprefix("sqlite:///"), cfg=settings_path(), logs=paths.log_dir()
            )
        )
        self.folder = QLineEdit("", self)
        self.folder.setObjectName("welcomeRepo")
        self.folder.setPlaceholderText("a git repository (leave empty to skip the git example)")
        self.folder.setToolTip("The repository where the git-status example runs `git status`")
        self.error = error_label(self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.add_button = QPushButton("Create example agents and demo tasks", self)
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self.add_examples)
        dismiss = QPushButton("Dismiss", self)
        dismiss.clicked.connect(self._dismiss)
        row = QHBoxLayout()
        row.addWidget(QLabel("git status in:", self))
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        row.addWidget(self.add_button)
        row.addWidget(dismiss)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(where)
        layout.addLayout(row)
        layout.addWidget(self.error)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "A git repository", self.folder.text() or str(Path.home()))
        if chosen:
            self.folder.setText(chosen)

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()

    def add_examples(self) -> None:
        """Create the agents and queue the demo tasks; a folder that is not in a git repository is
        refused first, under the field, and nothing is created."""
        text = self.folder.text().strip()
        folder = Path(text) if text else None
        self.add_button.setEnabled(False)
        self.error.hide()

        def create() -> list[Task]:
            if folder is not None:
                check_git_repository(folder)  # before anything is written
            create_example_agents(self.service)
            return enqueue_demo_tasks(self.service, folder)

        def done(tasks: list[Task]) -> None:
            self.hide()
            self.examples_added.emit(tasks)

        def failed(exc: BaseException) -> None:
            self.add_button.setEnabled(True)
            if isinstance(exc, TaskValidationError):
                self.error.setText(f"git status in: {exc.rule}")
                self.error.show()
                self.folder.setFocus()
            else:
                self.jobs.default_error(exc)

        self.jobs.write(create, done, failed, owner=self)
