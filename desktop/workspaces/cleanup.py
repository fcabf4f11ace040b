"""Removing the worktrees of finished tasks: `agentq repos prune` and the hourly retention pass.

Only worktrees the database records as created by the app are candidates, and only once no
unfinished task uses their folder and none used it after the cutoff. Each then goes through
prune_workspace, which skips (with the reason) any with uncommitted changes or commits reachable
from no other branch or remote, unless forced. Branches are kept unless asked. `prune_plan` says
what a prune would remove and keep (and why) without changing anything; `discard_worktree` prunes
one task's worktree (the window's Discard) by the same rules.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from desktop.errors import NotFoundError
from desktop.queue import TaskQueueService, WorkspaceRecord
from desktop.workspaces.git import GitError
from desktop.workspaces.prune import PruneResult, prune_workspace
from desktop.workspaces.worktrees import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pruned:
    """One candidate worktree and what pruning it did."""

    record: WorkspaceRecord
    result: PruneResult


class WorkspacePruner:
    """A maintenance role like the engine's: `run_once(now)` prunes worktrees of tasks finished
    more than `older_than_s` before `now`."""

    def __init__(
        self,
        service: TaskQueueService,
        older_than_s: float,
        *,
        repo: str | None = None,
        force: bool = False,
        delete_branches: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.service = service
        self.older_than_s = older_than_s
        self.repo = repo
        self.force = force
        self.delete_branches = delete_branches
        self.dry_run = dry_run

    def run_once(self, now: float) -> list[Pruned]:
        return [self.prune(record, now) for record in self.service.workspaces.prunable(now - self.older_than_s, self.repo)]

    def prune(self, record: WorkspaceRecord, now: float) -> Pruned:
        """Prune one candidate worktree (recording its removal), or with `dry_run` say what would happen."""
        ws = Workspace(
            record.path, record.branch, record.base, record.base_commit or "", record.repo_path, True, record.copied,
        )
        try:
            result = prune_workspace(ws, force=self.force, delete_branch=self.delete_branches, dry_run=self.dry_run)
        except GitError as exc:
            result = PruneResult(record.path, False, f"git refused: {exc}")
        if self.dry_run:
            return Pruned(record, result)
        if result.removed:
            self.service.workspaces.update(record.id, removed_at=now)
            log.info("pruned the worktree %s of task %s", record.path, record.task_id)
        else:
            log.info("kept the worktree %s of task %s: %s", record.path, record.task_id, result.reason)
        return Pruned(record, result)


def prune_plan(service: TaskQueueService, older_than_s: float, now: float, repo: str | None = None) -> list[Pruned]:
    """What `WorkspacePruner(...).run_once(now)` would remove (`removed` True) and keep, with the
    reason, for every worktree the app made and has not removed, changing nothing."""
    plan = WorkspacePruner(service, older_than_s, repo=repo, dry_run=True).run_once(now)
    planned = {p.record.id for p in plan}
    others = [r for r in service.workspaces.listing(repo) if r.created and r.id not in planned]
    tasks = service.get_many(r.task_id for r in others)
    for record in others:
        task = tasks.get(record.task_id)
        if task is not None and not task.status.is_finished:
            reason = f"task {task.id} is {task.status.value}"
        elif task is not None and task.finished_at is not None and task.finished_at.timestamp() >= now - older_than_s:
            reason = f"task {task.id} finished less than {older_than_s:g} s ago"
        else:
            reason = "a follow-up task still works in it"
        plan.append(Pruned(record, PruneResult(record.path, False, reason)))
    return sorted(plan, key=lambda p: p.record.task_id)


def discard_worktree(service: TaskQueueService, task_id: int, now: float) -> PruneResult:
    """Remove task `task_id`'s worktree by the rules of `repos prune` (never with uncommitted
    changes or unpushed commits, never while a task works in it); the result says why not."""
    record = service.task_workspace(task_id)
    if record is None:
        raise NotFoundError(f"task {task_id} has no worktree")
    if not record.created:  # a follow-up works in its parent's worktree: that is the one to discard
        made = [r for r in service.workspaces.listing(record.repo, removed=True) if r.created and r.path == record.path]
        if not made:
            return PruneResult(record.path, False, "not created by Agent Queue; it is never removed")
        record = made[-1]
    if record.removed_at is not None:
        return PruneResult(record.path, False, "it was removed already")
    if record.id not in {r.id for r in service.workspaces.prunable(math.inf, record.repo)}:
        return PruneResult(record.path, False, "a task still works in it (this task or a follow-up of it)")
    return WorkspacePruner(service, 0.0).prune(record, now).result
