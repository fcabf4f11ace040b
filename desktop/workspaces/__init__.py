"""Git workspaces for coding tasks: repositories, per-task worktrees, what changed, cleanup, ports.

Git runs through its command line only (`git -C`, argv lists, never a shell). No Qt here.
"""

from desktop.workspaces.changes import (
    PATCH_LIMIT_BYTES,
    ChangeSummary,
    FileChange,
    commit_message,
    finish_workspace,
    open_pull_request,
    push_branch,
    summarize_changes,
)
from desktop.workspaces.git import GitError, WorkspaceError, run_git
from desktop.workspaces.ports import free_port
from desktop.workspaces.prune import PruneResult, prune_workspace, prune_workspaces
from desktop.workspaces.repos import RepoCheckout, check_repository, default_branch, ensure_clone, fetch_remote, is_url
from desktop.workspaces.worktrees import (
    SetupFailed,
    Workspace,
    branch_name,
    copy_untracked,
    create_worktree,
    in_place_workspace,
    repo_lock,
    run_setup,
    slugify,
    validate_copy_patterns,
    validate_setup_command,
)

__all__ = [
    "PATCH_LIMIT_BYTES",
    "ChangeSummary",
    "FileChange",
    "GitError",
    "PruneResult",
    "RepoCheckout",
    "SetupFailed",
    "Workspace",
    "WorkspaceError",
    "branch_name",
    "check_repository",
    "commit_message",
    "copy_untracked",
    "create_worktree",
    "default_branch",
    "ensure_clone",
    "fetch_remote",
    "finish_workspace",
    "free_port",
    "in_place_workspace",
    "is_url",
    "open_pull_request",
    "prune_workspace",
    "prune_workspaces",
    "push_branch",
    "repo_lock",
    "run_git",
    "run_setup",
    "slugify",
    "summarize_changes",
    "validate_copy_patterns",
    "validate_setup_command",
]
