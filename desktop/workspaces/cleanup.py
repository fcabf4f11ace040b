"""Removing the worktrees of finished tasks: `agentq repos prune` and the hourly retention pass.

Only worktrees the database records as created by the app are candidates, and only once no
unfinished task uses their folder and none used it after the cutoff. Each then goes through
prune_workspace, which skips (with the reason) any with uncommitted changes or commits reachable
from no other branch or remote, unless forced. Branches are kept unless asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
    ) -> None:
        self.service = service
        self.older_than_s = older_than_s
        self.repo = repo
        self.force = force
        self.delete_branches = delete_branches

    def run_once(self, now: float) -> list[Pruned]:
        done = []
        for record in self.service.workspaces.prunable(now - self.older_than_s, self.repo):
            ws = Workspace(
                record.path, record.branch, record.base, record.base_commit or "", record.repo_path, True,
                record.copied,
            )
            try:
                result = prune_workspace(ws, force=self.force, delete_branch=self.delete_branches)
            except GitError as exc:
                result = PruneResult(record.path, False, f"git refused: {exc}")
            if result.removed:
                self.service.workspaces.update(record.id, removed_at=now)
                log.info("pruned the worktree %s of task %s", record.path, record.task_id)
            else:
                log.info("kept the worktree %s of task %s: %s", record.path, record.task_id, result.reason)
            done.append(Pruned(record, result))
        return done
