"""ReviewBar: what one can do with a coding task's work from its details: open its worktree (file
manager, terminal, editor), ask a follow-up (the same worktree and session, as `enqueue
--follow-up`), retry with an edited prompt, push its branch or open a pull request, discard the
worktree (by the rules of `repos prune`). Outcomes show on the bar's own line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QProcess, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.config import Settings
from desktop.errors import AgentQueueError
from desktop.queue import Task, TaskQueueService
from desktop.ui.error_report import user_message
from desktop.ui.jobs import Jobs
from desktop.ui.prompt_dialog import PromptDialog
from desktop.ui.task_actions import TaskActions, can_retry
from desktop.ui.task_details import task_prompt
from desktop.workspaces.cleanup import discard_worktree
from desktop.workspaces.prune import PruneResult
from desktop.workspaces.review import Published, Review, editor_argv, publish, terminal_argv


class ReviewBar(QWidget):
    """Buttons for the task shown (`set_review`); each is enabled only where it applies.

    Signals:
        done(): an action changed the task's workspace (removed, pushed): read the review again.
    """

    done = Signal()

    def __init__(
        self, service: TaskQueueService, jobs: Jobs, actions: TaskActions, settings: Callable[[], Settings],
        parent: QWidget | None = None, *, gh: str = "gh",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("reviewBar")
        self.service, self.jobs, self.task_actions, self.settings, self.gh = service, jobs, actions, settings, gh
        self.task: Task | None = None
        self.review: Review | None = None
        self.dialog: PromptDialog | None = None
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.folder_button = self._button(row, "Folder", "Open the worktree in the file manager", self.open_folder)
        self.terminal_button = self._button(row, "Terminal", "Open a terminal in the worktree (Settings: Terminal "
                                            "command)", self.open_terminal)
        self.editor_button = self._button(row, "Editor", "Open the worktree in your editor (Settings: Editor "
                                          "command)", self.open_editor)
        self.follow_up_button = self._button(row, "Follow-up…", "Ask the agent for more in the same worktree and "
                                             "session", self.follow_up)
        self.retry_button = self._button(row, "Retry with prompt…", "Run the task again with an edited prompt",
                                         self.retry_with_prompt)
        self.push_button = self._button(row, "Push", "Push the task's branch to its remote",
                                        lambda: self.publish(open_pr=False))
        self.pr_button = self._button(row, "Open PR", "Push the branch and open a pull request (gh pr create)",
                                      lambda: self.publish(open_pr=True))
        self.discard_button = self._button(row, "Discard…", "Remove the worktree (never with uncommitted changes "
                                           "or unpushed commits); the branch is kept", self.discard)
        row.addStretch(1)
        self.outcome = QLabel("", self)
        self.outcome.setObjectName("reviewOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.outcome)
        self.set_review(None, None)

    def _button(self, row: QHBoxLayout, text: str, tip: str, slot: Callable[[], Any]) -> QPushButton:
        button = QPushButton(text, self)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        button.clicked.connect(lambda: slot())
        row.addWidget(button)
        return button

    def set_review(self, task: Task | None, review: Review | None) -> None:
        self.task, self.review = task, review
        folder = review.folder if review else None
        finished = task is not None and task.status.is_finished
        has_prompt = task is not None and task_prompt(task) is not None
        publishable = bool(review and folder and review.worktree and review.remote and finished)
        for button in (self.folder_button, self.terminal_button, self.editor_button):
            button.setEnabled(folder is not None)
        self.follow_up_button.setEnabled(bool(folder and has_prompt and review and review.worktree))
        self.retry_button.setEnabled(task is not None and has_prompt and can_retry([task]))
        self.push_button.setEnabled(publishable)
        self.pr_button.setEnabled(publishable and bool(review and review.gh and not review.facts.get("pr_url")))
        self.discard_button.setEnabled(bool(folder and finished and review and review.record
                                            and (review.record.created or review.worktree)))

    def say(self, text: str) -> None:
        self.outcome.setText(text)
        self.outcome.setVisible(bool(text))

    # -- opening the worktree -----------------------------------------------------------------------

    def open_folder(self) -> bool:
        folder = self.review.folder if self.review else None
        return bool(folder) and QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def open_terminal(self) -> bool:
        return self._launch(lambda folder: terminal_argv(self.settings().terminal_command, folder), "terminal")

    def open_editor(self) -> bool:
        return self._launch(lambda folder: editor_argv(self.settings().editor_command, folder), "editor")

    def _launch(self, argv_for: Callable[[str], list[str]], what: str) -> bool:
        folder = self.review.folder if self.review else None
        if folder is None:
            return False
        try:
            argv = argv_for(folder)
        except AgentQueueError as exc:
            self.say(f"Cannot open the {what}: {exc}")
            return False
        started, _pid = QProcess.startDetached(argv[0], argv[1:], folder)
        self.say("" if started else f"Cannot open the {what}: {argv[0]!r} did not start (see Settings)")
        return bool(started)

    # -- new work: follow-up, retry -------------------------------------------------------------------

    def follow_up(self) -> PromptDialog | None:
        task = self.task
        if task is None:
            return None
        service = self.service
        about = (f"A new task for <b>{task.agent}</b> that runs after task {task.id}, in its worktree and on its "
                 "branch, resuming its session.")
        return self._prompt(f"Follow-up to task {task.id}", about, "", "Queue follow-up", lambda text: service.enqueue(
            task.agent, {"prompt": text}, follow_up_of=task.id, created_by="window"))

    def retry_with_prompt(self) -> PromptDialog | None:
        task = self.task
        if task is None:
            return None
        service, payload = self.service, dict(task.payload) if isinstance(task.payload, dict) else {}
        about = f"Task {task.id} runs again with this prompt (in its worktree, resuming its session where it can)."
        return self._prompt(f"Retry task {task.id}", about, task_prompt(task) or "", "Retry",
                            lambda text: service.retry(task.id, payload={**payload, "prompt": text}))

    def _prompt(self, title: str, about: str, prompt: str, ok: str, write: Callable[[str], Task]) -> PromptDialog:
        dialog = PromptDialog(title, about, prompt, write, self.jobs, ok, self.window())
        dialog.done.connect(self._queued)
        dialog.open()
        self.dialog = dialog
        return dialog

    def _queued(self, task: Task) -> None:
        self.task_actions.changed.emit([task])
        self.task_actions.pool.wake()
        self.say(f"Queued task {task.id}." if self.task is None or task.id != self.task.id
                 else f"Task {task.id} is queued again.")

    # -- publishing, discarding -----------------------------------------------------------------------

    def publish(self, *, open_pr: bool) -> bool:
        task, service, gh = self.task, self.service, self.gh
        if task is None:
            return False
        self.say("Pushing…")
        return self.jobs.write(lambda: publish(service, task, open_pr=open_pr, gh=gh), self._published,
                               lambda exc: self.say(f"Not pushed: {user_message(exc)}"), owner=self, name="publish")

    def _published(self, result: Published) -> None:
        record = self.review.record if self.review else None
        parts = [f"Pushed {record.branch if record else 'the branch'}." if result.pushed else ""]
        if result.pr_url:
            parts.append(f"Pull request: {result.pr_url}")
        parts += list(result.notes)
        self.say(" ".join(p for p in parts if p))
        self.done.emit()

    def discard(self) -> bool:
        task, review = self.task, self.review
        if task is None or review is None or review.record is None:
            return False
        record = review.record
        question = (f"Remove the worktree {record.path} of task {task.id}? The branch {record.branch} is kept. "
                    "A worktree with uncommitted changes or commits on no other branch or remote is never removed.")
        if not self.task_actions.confirm(self, "Discard worktree", question, "Remove worktree", "Keep it"):
            return False
        service = self.service
        return self.jobs.write(lambda: discard_worktree(service, task.id, service.clock()), self._discarded,
                               lambda exc: self.say(f"Not removed: {user_message(exc)}"), owner=self, name="discard")

    def _discarded(self, result: PruneResult) -> None:
        self.say(f"Removed {result.path}; the branch is kept." if result.removed
                 else f"Kept {result.path}: {result.reason}.")
        self.done.emit()
