"""Removing worktrees the app created, without ever losing work.

The caller passes only workspaces it recorded as created (`Workspace.created`). Even then a
worktree is skipped, with the reason, when it has uncommitted changes or commits reachable from no
other branch or remote, unless `force`. A folder git does not list as a worktree of the repository,
and the repository's own folder, are never removed, forced or not. Branches are kept unless asked.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.workspaces.changes import dirty_paths, is_untouched_copy
from desktop.workspaces.git import GitError, git_ok, rev_parse, run_git
from desktop.workspaces.worktrees import BRANCH_PREFIX, Workspace, repo_lock

SHOWN_PATHS = 5


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What pruning one workspace did: `removed` it or not, and `reason` when it did not."""

    path: str
    removed: bool
    reason: str | None = None
    branch_deleted: bool = False
    branch_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _worktrees(repo: str) -> list[dict[str, str]]:
    """``git worktree list --porcelain`` as dicts (path, HEAD, branch, ...); the main worktree first."""
    out = run_git(repo, "worktree", "list", "--porcelain").stdout
    entries: list[dict[str, str]] = []
    for block in out.strip().split("\n\n"):
        entry: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            entry[key] = value
        if "worktree" in entry:
            entries.append(entry)
    return entries


def unreachable_commits(repo: str, tip: str, own_branch: str | None) -> int:
    """How many commits `tip` has that no branch (other than `own_branch`) and no remote branch has."""
    exclude = [f"--exclude={own_branch}"] if own_branch else []
    out = run_git(repo, "rev-list", "--count", tip, "--not", *exclude, "--branches", "--remotes").stdout
    return int(out.strip() or 0)


def _shown(paths: list[str]) -> str:
    more = f" (+{len(paths) - SHOWN_PATHS} more)" if len(paths) > SHOWN_PATHS else ""
    return ", ".join(paths[:SHOWN_PATHS]) + more


def prune_workspace(
    ws: Workspace, *, force: bool = False, delete_branch: bool = False, dry_run: bool = False
) -> PruneResult:
    """Remove `ws`'s worktree if that loses nothing (or `force`); delete its branch if asked and safe.
    With `dry_run` nothing changes: `removed` then says it would be removed."""
    if not ws.created:
        return PruneResult(ws.path, False, "not created by Agent Queue; it is never removed")
    if not Path(ws.repo_path).is_dir() or not git_ok(ws.repo_path, "rev-parse", "--git-dir"):
        return PruneResult(ws.path, False, f"its repository {ws.repo_path} is gone or no longer a git repository")
    with repo_lock(ws.repo_path):
        entries = _worktrees(ws.repo_path)
        if _same_path(ws.path, ws.repo_path) or (entries and _same_path(ws.path, entries[0]["worktree"])):
            return PruneResult(ws.path, False, "it is the repository's own folder; it is never removed")
        entry = next((e for e in entries[1:] if _same_path(e["worktree"], ws.path)), None)
        exists = Path(ws.path).exists()
        if entry is None and exists:
            return PruneResult(ws.path, False, f"git does not list it as a worktree of {ws.repo_path}; left as it is")
        if entry is not None and exists:
            reason = None if force else _unsafe_reason(ws, entry)
            if reason is not None:
                return PruneResult(ws.path, False, reason)
            if dry_run:
                return PruneResult(ws.path, True)
            _remove(ws, entry, force)
        elif dry_run:
            return PruneResult(ws.path, True)
        else:
            run_git(ws.repo_path, "worktree", "prune")  # its folder is gone already: drop git's record
        deleted, note = _delete_branch(ws, force) if delete_branch else (False, None)
    return PruneResult(ws.path, True, None, deleted, note)


def _unsafe_reason(ws: Workspace, entry: dict[str, str]) -> str | None:
    """Why removing this worktree would lose work, or None."""
    dirty = dirty_paths(ws)
    if dirty:
        return f"it has uncommitted changes: {_shown(dirty)}"
    tips = {entry.get("HEAD", "")}
    branch_tip = rev_parse(ws.repo_path, f"refs/heads/{ws.branch}")
    if branch_tip:
        tips.add(branch_tip)
    for tip in sorted(t for t in tips if t):
        count = unreachable_commits(ws.repo_path, tip, ws.branch)
        if count:
            return (
                f"it has {count} commit(s) reachable from no other branch or remote; "
                f"push or merge {ws.branch!r} first, or prune with force"
            )
    return None


def _remove(ws: Workspace, entry: dict[str, str], force: bool) -> None:
    for relative in ws.copied:  # the app's own copies, still equal to the originals: not work
        if is_untouched_copy(ws, relative):
            Path(ws.path, relative).unlink(missing_ok=True)
    args = ["worktree", "remove"]
    if force:
        args += ["--force", "--force"] if "locked" in entry else ["--force"]
    run_git(ws.repo_path, *args, ws.path)


def _delete_branch(ws: Workspace, force: bool) -> tuple[bool, str | None]:
    if not ws.branch.startswith(BRANCH_PREFIX):
        return False, f"branch {ws.branch!r} kept: Agent Queue only deletes the {BRANCH_PREFIX}* branches it made"
    tip = rev_parse(ws.repo_path, f"refs/heads/{ws.branch}")
    if tip is None:
        return False, None
    if not force:
        count = unreachable_commits(ws.repo_path, tip, ws.branch)
        if count:
            return False, f"branch {ws.branch!r} kept: {count} commit(s) on it are on no other branch or remote"
    try:
        run_git(ws.repo_path, "branch", "-D", ws.branch)
    except GitError as exc:
        return False, f"branch {ws.branch!r} kept: {exc.stderr or exc}"
    return True, None


def prune_workspaces(
    workspaces: list[Workspace], *, force: bool = False, delete_branches: bool = False
) -> list[PruneResult]:
    """prune_workspace for each recorded workspace; one failing never stops the others."""
    results = []
    for ws in workspaces:
        try:
            results.append(prune_workspace(ws, force=force, delete_branch=delete_branches))
        except GitError as exc:
            results.append(PruneResult(ws.path, False, f"git refused: {exc}"))
    return results
