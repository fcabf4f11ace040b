"""Registering a repository (`agentq repos add`) and forgetting one (`agentq repos remove`).

Everything is checked before anything is written: the settings, the name, that a local path is the
top folder of a git working tree, that a URL can be cloned (into the data folder, once) and that
the base branch exists. A failed registration leaves no row and no clone behind. Removing a
repository never deletes the user's own clone; the app's clone of a URL only when asked, and only
when that loses nothing (no worktree of it left, no commit only it holds).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop.errors import TaskValidationError
from desktop.queue import Repo, TaskQueueService, repo_lock_key
from desktop.queue import validation as check
from desktop.queue.repos import repo_settings
from desktop.workspaces.git import GitError, WorkspaceError, rev_parse, run_git
from desktop.workspaces.repos import check_repository, clone_folder, default_branch, ensure_clone, is_url
from desktop.workspaces.worktrees import validate_copy_patterns, validate_setup_command


def register_repo(
    service: TaskQueueService,
    location: str,
    clones_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    mode: str = "worktree",
    max_parallel: int = 1,
    base: str | None = None,
    setup: str | None = None,
    copy: Sequence[str] = (),
    push: bool = False,
    open_pr: bool = False,
    commit_uncommitted: bool = False,
) -> Repo:
    """Check and register the repository at `location` (a local clone, or a URL cloned into
    `clones_dir`). Raises TaskValidationError naming what is wrong; nothing is written then."""
    settings: dict[str, Any] = {
        "mode": mode, "max_parallel": max_parallel, "base_branch": base, "setup_command": setup,
        "copy_patterns": validate_copy_patterns(list(copy), "copy"), "push": push, "open_pr": open_pr,
        "commit_uncommitted": commit_uncommitted,
    }
    if setup is not None:
        validate_setup_command(setup, "setup")
    repo_settings(settings)
    if not isinstance(location, str) or not location.strip():
        raise TaskValidationError("source", "must be the path of a git clone or a URL git can clone")
    url = location.strip() if is_url(location) else None
    name = check.agent_name(name if name is not None else _name_of(url or location))
    if service.find_repo(name) is not None:
        raise TaskValidationError("name", f"a repository named {name!r} is already registered; choose --name")
    key = repo_lock_key(url or str(Path(location).expanduser()))
    known = next((repo for repo in service.list_repos() if repo.lock_key == key), None)
    if known is not None:
        raise TaskValidationError("source", f"{location!r} is already registered as {known.name!r}")
    made: Path | None = None
    if url is None:
        local = check_repository(location, "source")
    else:
        target = clone_folder(url, clones_dir)
        existed = target.exists()
        try:
            local = Path(ensure_clone(url, clones_dir).path)
        except GitError as exc:
            if not existed:  # the clone's lock file is all that is left of it
                Path(f"{target}.lock").unlink(missing_ok=True)
            reason = (exc.stderr.strip().splitlines() or [str(exc)])[-1]
            raise TaskValidationError("source", f"cannot clone {url!r}: {reason}") from None
        made = None if existed else local
    try:
        settings["base_branch"] = base_branch(local, base, remote=url is not None)
        return service.add_repo(
            name, source=url or str(local), local_path=str(local), url=url, cloned=url is not None, **settings
        )
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)  # the clone this call made, nothing else
            Path(f"{made}.lock").unlink(missing_ok=True)
        raise


def _name_of(location: str) -> str:
    """A repository's default name: the last part of its path or URL, without ``.git``."""
    stem = re.sub(r"\.git$", "", location.rstrip("/\\").replace(":", "/").split("/")[-1]) if location else ""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")
    if not stem:
        raise TaskValidationError("name", f"cannot make a name out of {location!r}; give one with --name")
    return stem[:100]


def base_branch(repo: Path, base: str | None, *, remote: bool) -> str:
    """The branch tasks start from: `base` if it names one (on the remote, for a clone the app
    keeps), else the repository's default branch."""
    if base is None:
        try:
            return default_branch(repo)
        except GitError:
            raise TaskValidationError(
                "base", f"{repo} has no branch checked out and no remote default; give --base BRANCH"
            ) from None
    ref = f"origin/{base}" if remote else base
    if rev_parse(repo, ref) is None:
        raise TaskValidationError("base", f"{ref!r} names no branch or commit in {repo}")
    return base


def forget_repo(service: TaskQueueService, name: str, *, delete_clone: bool = False) -> Repo:
    """Unregister repository `name`. With `delete_clone`, also delete the app's clone of its URL,
    refused (WorkspaceError) while a worktree of it remains or a commit exists only there."""
    repo = service.get_repo(name)
    if delete_clone:
        if not repo.cloned:
            raise TaskValidationError(
                "delete_clone", f"{repo.local_path} is your own clone, not the app's; it is never deleted"
            )
        _check_clone_can_go(service, repo)
    service.remove_repo(name)
    if delete_clone and Path(repo.local_path).exists():
        shutil.rmtree(repo.local_path)
    return repo


def _check_clone_can_go(service: TaskQueueService, repo: Repo) -> None:
    left = [w.path for w in service.workspaces.listing(repo.name) if w.created and Path(w.path).exists()]
    if left:
        raise WorkspaceError(
            f"the clone {repo.local_path} still has {len(left)} worktree(s) of tasks ({left[0]}, ...): "
            f"prune them first (agentq repos prune {repo.name})"
        )
    if not Path(repo.local_path).exists():
        return
    try:
        only_here = run_git(repo.local_path, "rev-list", "--count", "--branches", "--not", "--remotes").stdout.strip()
    except GitError as exc:
        raise WorkspaceError(f"cannot tell whether {repo.local_path} holds unpushed work: {exc}") from None
    if only_here and int(only_here):
        raise WorkspaceError(
            f"the clone {repo.local_path} has {only_here} commit(s) on no remote branch; push them first, "
            "or remove the repository without deleting its clone"
        )
