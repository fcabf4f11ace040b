"""ReposPanel: the Repositories tab. Each repository (mode, tasks at once, base, worktrees, running,
waiting), the selected one's worktrees (task, branch, age, changes, who holds it), and Prune…, which
first lists what it would remove and what it keeps and why (the rules of `agentq repos prune`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.queue import TaskQueueService
from desktop.ui.column_fit import ColumnFit
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import plural, status_colour
from desktop.ui.task_actions import TaskActions
from desktop.workspaces.cleanup import Pruned, WorkspacePruner, prune_plan
from desktop.workspaces.overview import RepoLine, WorktreeLine, repo_overview

REPO_HEADERS = ("Repository", "Mode", "At once", "Base", "Worktrees", "Running", "Waiting", "Source")
WORKTREE_HEADERS = ("Task", "Status", "Changes", "Held by", "Age", "Branch", "Folder")  # the short ones first
REPO_LONG = (0, 7)  # the columns that share what the short ones leave, elided in the middle
WORKTREE_LONG = (5, 6)  # the branch shows its start (agentq/<task>-<the prompt's words>), the folder its end
CHANGES = {None: ("folder gone", "the folder is gone"), True: ("uncommitted", "uncommitted changes"),
           False: ("clean", "no uncommitted changes")}  # shown, tooltip
REFRESH_EVERY_S = 5.0  # the snapshot asks often; git status of every worktree is read at most this often


def age_text(then: datetime, now: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _table(parent: QWidget, headers: Sequence[str], name: str) -> QTableWidget:
    """A read-only, row-selecting table (a ColumnFit sizes its columns)."""
    table = QTableWidget(0, len(headers), parent)
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


def plan_text(plan: list[Pruned]) -> str:
    """What Prune… asks: the worktrees it removes, then those it keeps, each with why."""
    removed = [p for p in plan if p.result.removed]
    kept = [p for p in plan if not p.result.removed]
    lines = [f"Remove {plural(len(removed), 'worktree')} (their branches are kept):"] if removed else [
        "Nothing can be removed."]
    lines += [f"  • task {p.record.task_id}: {p.record.path}" for p in removed]
    if kept:
        lines += ["", f"Keep {plural(len(kept), 'worktree')}:"]
        lines += [f"  • task {p.record.task_id}: {p.record.path}: {p.result.reason}" for p in kept]
    return "\n".join(lines)


class ReposPanel(QWidget):
    """Signals:
        open_task(int): the user double-clicked a worktree: open its task's details.
    """

    open_task = Signal(int)

    def __init__(self, service: TaskQueueService, jobs: Jobs, actions: TaskActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.jobs, self.task_actions = service, jobs, actions
        self.lines: list[RepoLine] = []
        self._read_at = -REFRESH_EVERY_S
        self.repos = _table(self, REPO_HEADERS, "reposTable")
        self.worktrees = _table(self, WORKTREE_HEADERS, "worktreesTable")
        self.repos_fit = ColumnFit(self.repos, REPO_LONG)
        self.worktrees_fit = ColumnFit(self.worktrees, WORKTREE_LONG, elide_right=(5,))
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.prune_button = QPushButton("Prune…", self)
        self.prune_button.setToolTip("Remove the worktrees of the selected repository's finished tasks that lose "
                                     "nothing (listed first, with what is kept and why)")
        self.prune_button.clicked.connect(self.prune)
        self.outcome = QLabel("", self)
        self.outcome.setObjectName("reposOutcome")
        self.outcome.setWordWrap(True)
        self.empty = QLabel("No repositories yet. Add one with: agentq repos add PATH_OR_URL", self)
        self.empty.setObjectName("reposEmpty")
        bar = QHBoxLayout()
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.prune_button)
        bar.addStretch(1)
        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        self.worktrees_title = QLabel("Worktrees", lower)
        lower_layout.addWidget(self.worktrees_title)
        lower_layout.addWidget(self.worktrees, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.repos)
        split.addWidget(lower)
        split.setSizes([120, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.empty)
        layout.addWidget(split, 1)
        layout.addWidget(self.outcome)
        self.repos.itemSelectionChanged.connect(self._show_worktrees)
        self.worktrees.cellDoubleClicked.connect(self._open)
        self._update_buttons()

    # -- reading ----------------------------------------------------------------------------------

    def refresh_live(self) -> None:
        """The window's periodic refresh while this tab shows: at most every REFRESH_EVERY_S."""
        if time.monotonic() - self._read_at >= REFRESH_EVERY_S:
            self.refresh(skip_if_busy=True)

    def refresh(self, *, skip_if_busy: bool = False) -> None:
        """Read the repositories and their worktrees again (git status of each) on a read thread."""
        self._read_at = time.monotonic()
        service = self.service
        self.jobs.read(lambda: repo_overview(service), self._show, owner=self, name="repos", skip_if_busy=skip_if_busy)

    def selected(self) -> RepoLine | None:
        rows = self.repos.selectionModel().selectedRows()
        return self.lines[rows[0].row()] if rows and rows[0].row() < len(self.lines) else None

    def _show(self, lines: list[RepoLine]) -> None:
        chosen = self.selected()
        self.lines = lines
        self.empty.setVisible(not lines)
        self.repos.setRowCount(len(lines))
        for row, line in enumerate(lines):
            repo = line.repo
            cells = (repo.name, repo.mode, str(repo.capacity), repo.base_branch or "-", str(len(line.worktrees)),
                     str(line.running), str(line.waiting), repo.source)
            cloned = "" if repo.local_path == repo.source else f"\ncloned to {repo.local_path}"
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text + cloned if column == 7 else text)
                self.repos.setItem(row, column, item)
        self.repos_fit.fit()
        names = [line.repo.name for line in lines]
        if lines:
            self.repos.selectRow(names.index(chosen.repo.name) if chosen and chosen.repo.name in names else 0)
        self._show_worktrees()

    def _show_worktrees(self) -> None:
        line = self.selected()
        worktrees: tuple[WorktreeLine, ...] = line.worktrees if line else ()
        self.worktrees_title.setText(f"Worktrees of {line.repo.name}" if line else "Worktrees")
        now = datetime.now(UTC)
        self.worktrees.setRowCount(len(worktrees))
        for row, tree in enumerate(worktrees):
            changes, changes_tip = CHANGES[tree.dirty]
            holder = f"task {tree.holder}" if tree.holder else "-"
            cells = (str(tree.task_id), tree.status, changes, holder, age_text(tree.created_at, now), tree.branch or "-",
                     tree.path + ("" if tree.made_by_app else "  (not made by Agent Queue)"))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                tips = {0: "tasks: " + ", ".join(map(str, tree.tasks)), 2: changes_tip}
                item.setToolTip(tips.get(column, text))
                colour = status_colour(tree.status, self.palette()) if column == 1 else None
                if colour is not None:
                    item.setForeground(colour)
                self.worktrees.setItem(row, column, item)
        self.worktrees_fit.fit()
        self._update_buttons()

    def _update_buttons(self) -> None:
        line = self.selected()
        self.prune_button.setEnabled(bool(line and any(t.made_by_app for t in line.worktrees)))

    def _open(self, row: int, _column: int) -> None:
        line = self.selected()
        if line and row < len(line.worktrees):
            self.open_task.emit(line.worktrees[row].task_id)

    # -- pruning ----------------------------------------------------------------------------------

    def prune(self) -> bool:
        """List what a prune of the selected repository would do; remove after the user agrees."""
        line = self.selected()
        if line is None:
            return False
        service, name = self.service, line.repo.name
        return self.jobs.read(lambda: prune_plan(service, 0.0, service.clock(), name),
                              lambda plan: self._confirm(name, plan), owner=self, name="prune-plan")

    def _confirm(self, name: str, plan: list[Pruned]) -> None:
        text = plan_text(plan)
        if not any(p.result.removed for p in plan):
            self.outcome.setText(text.replace("\n", " "))
            return
        if not self.task_actions.confirm(self, f"Prune the worktrees of {name}", text, "Remove", "Keep all"):
            return
        service = self.service
        self.jobs.write(lambda: WorkspacePruner(service, 0.0, repo=name).run_once(service.clock()), self._pruned,
                        owner=self, name="prune")

    def _pruned(self, done: list[Pruned]) -> None:
        removed = [p for p in done if p.result.removed]
        kept = [p for p in done if not p.result.removed]
        parts = [f"Removed {plural(len(removed), 'worktree')}."]
        parts += [f"Kept task {p.record.task_id}'s: {p.result.reason}." for p in kept]
        self.outcome.setText(" ".join(parts))
        self.refresh()
