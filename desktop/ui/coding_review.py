"""CodingReview: the Transcript, Diff and Summary pages of a coding task's details, read together
(desktop.workspaces.review.load_review, the same facts `agentq show` prints) on a read thread."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QTextBrowser, QWidget

from desktop.queue import Attempt, Task, TaskQueueService, TaskStatus
from desktop.ui.diff_view import DiffView
from desktop.ui.jobs import Jobs
from desktop.ui.transcript_view import TranscriptView
from desktop.workspaces.review import Review, load_review


def _commit(value: Any) -> str | None:
    return str(value)[:12] if value else None


def summary_rows(task: Task, review: Review) -> list[tuple[str, str]]:
    """(label, text) of the Summary page: branch, commits, changes, cost, tokens, turns, session."""
    f = review.facts
    files = f.get("files_changed")
    worktree = f.get("worktree")
    if worktree and f.get("worktree_removed"):
        worktree += " (removed)"
    tokens = None
    if f.get("input_tokens") is not None:
        tokens = f"{f['input_tokens']:,} in ({f.get('cached_tokens') or 0:,} cached), {f.get('output_tokens') or 0:,} out"
    changes = None
    if files is not None:
        changes = f"{len(files)} file(s), +{f.get('lines_added') or 0} −{f.get('lines_removed') or 0}"
        if f.get("uncommitted"):
            changes += ", uncommitted changes left"
    rows = [
        ("Repository", task.repo), ("Branch", f.get("branch")), ("Worktree", worktree),
        ("Base commit", _commit(f.get("base_commit"))), ("Head commit", _commit(f.get("head_commit"))),
        ("Commits", None if f.get("commits") is None else str(f["commits"])), ("Changes", changes),
        ("Pushed", "yes" if f.get("pushed") else None), ("Pull request", f.get("pr_url")),
        ("Cost", None if f.get("cost_usd") is None else f"${f['cost_usd']:.4f}"), ("Tokens", tokens),
        ("Turns", None if f.get("turns") is None else str(f["turns"])), ("Session", f.get("session_id")),
    ]
    return [(label, text) for label, text in rows if text]


def summary_html(task: Task, review: Review) -> str:
    cells = "".join(
        f'<tr><td style="padding-right:14px"><b>{html.escape(label)}</b></td><td>{html.escape(text)}</td></tr>'
        for label, text in summary_rows(task, review)
    )
    final = review.facts.get("final_message")
    message = ("<h3>Final message</h3><p>" + html.escape(final.strip()).replace("\n", "<br>") + "</p>") if final else ""
    return f"<table>{cells}</table>{message}"


class CodingReview(QObject):
    """Owns the three pages; `show_task` reads the review again (a newer call wins).

    Signals:
        loaded(Review): the review of the task shown, read; `is_coding` says whether to show the pages.
    """

    loaded = Signal(object)

    def __init__(self, service: TaskQueueService, jobs: Jobs, parent: QWidget) -> None:
        super().__init__(parent)
        self.service = service
        self.jobs = jobs
        self.transcript = TranscriptView(jobs, parent)
        self.diff = DiffView(jobs, parent)
        self.summary = QTextBrowser(parent)
        self.summary.setObjectName("codingSummary")
        self.summary.setOpenExternalLinks(True)
        self.review: Review | None = None
        self._summary_text = ""
        self._task: Task | None = None
        self._generation = 0

    def show_task(self, task: Task, attempts: list[Attempt]) -> None:
        self._generation += 1
        if self._task is None or self._task.id != task.id:
            self.review = None
            self.transcript.clear()
            self.diff.show_patch(None)
            self.summary.clear()
            self._summary_text = ""
        self._task = task
        generation, service = self._generation, self.service
        self.jobs.read(lambda: load_review(service, task, attempts), lambda review: self._loaded(generation, review),
                       lambda exc: self.summary.setPlainText(f"Could not read the task's changes: {exc}"),
                       owner=self, name="review")

    def clear(self) -> None:
        self._generation += 1
        self._task, self.review = None, None
        self.transcript.clear()
        self.diff.show_patch(None)
        self.summary.clear()
        self._summary_text = ""

    def _loaded(self, generation: int, review: Review) -> None:
        task = self._task
        if generation != self._generation or task is None:
            return
        self.review = review
        running = task.status is TaskStatus.RUNNING
        self.transcript.show_files(task.id, review.transcripts, live=running)
        truncated = (review.record.summary or {}).get("patch_truncated") if review.record else False
        note = "The patch was cut at 5 MiB; agentq diff prints what was kept." if truncated else ""
        if review.patch is None and running:
            note = "The changes are read when the agent's run ends."
        self.diff.show_patch(review.patch, note)
        text = summary_html(task, review)
        if text != self._summary_text:
            self._summary_text = text
            self.summary.setHtml(text)
        self.loaded.emit(review)
