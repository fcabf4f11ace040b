"""The repositories at a glance (the window's Repositories view, no Qt): each repository with its
worktrees (task, branch, age, uncommitted changes or not, which task holds it now) and how many of
its tasks run and wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from desktop.queue import Repo, TaskQueueService, TaskStatus, WorkspaceRecord
from desktop.workspaces.changes import dirty_paths
from desktop.workspaces.git import GitError
from desktop.workspaces.review import workspace_of


@dataclass(frozen=True, slots=True)
class WorktreeLine:
    """One folder tasks of a repository work in (a follow-up shares its parent's)."""

    task_id: int  # the task it was made for
    status: str  # that task's status ("deleted" when the task is gone)
    branch: str
    path: str
    created_at: datetime
    made_by_app: bool
    dirty: bool | None  # uncommitted changes; None when the folder is gone or git cannot tell
    holder: int | None  # the task running in it now (the task itself or a follow-up)
    tasks: tuple[int, ...]  # every task that worked in it


@dataclass(frozen=True, slots=True)
class RepoLine:
    repo: Repo
    worktrees: tuple[WorktreeLine, ...]
    running: int
    waiting: int


def _dirty(record: WorkspaceRecord) -> bool | None:
    if not Path(record.path).is_dir():
        return None
    try:
        return bool(dirty_paths(workspace_of(record)))
    except GitError:
        return None


def repo_overview(service: TaskQueueService) -> list[RepoLine]:
    """Every registered repository with its worktrees still on record, oldest first."""
    records = service.workspaces.listing()
    tasks = service.get_many(r.task_id for r in records)
    waiting = service.repo_waiting_counts()
    by_path: dict[str, list[WorkspaceRecord]] = {}
    for record in records:
        by_path.setdefault(record.path, []).append(record)
    lines: dict[str, list[WorktreeLine]] = {}
    running: dict[str, int] = {}
    for path, group in by_path.items():
        first = next((r for r in group if r.created), group[0])
        statuses = {r.task_id: tasks[r.task_id].status if r.task_id in tasks else None for r in group}
        holder = next((t for t, s in statuses.items() if s is TaskStatus.RUNNING), None)
        running[first.repo] = running.get(first.repo, 0) + sum(s is TaskStatus.RUNNING for s in statuses.values())
        status = statuses[first.task_id]
        lines.setdefault(first.repo, []).append(WorktreeLine(
            first.task_id, status.value if status else "deleted", first.branch, path, first.created_at, first.created,
            _dirty(first), holder, tuple(r.task_id for r in group),
        ))
    return [
        RepoLine(repo, tuple(lines.get(repo.name, ())), running.get(repo.name, 0), waiting.get(repo.name, 0))
        for repo in service.list_repos()
    ]
