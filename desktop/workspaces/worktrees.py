"""A task's own working tree: a `git worktree` on a new branch, its copied files and its setup.

Each task gets ``agentq/<task id>-<slug of the prompt>`` created from the base branch with
``git worktree add -b BRANCH PATH BASE``. Creation is serialised per repository by a lock file in
the repository's shared git folder, so two processes creating worktrees at the same instant never
race on ``.git/worktrees``. Nothing here deletes anything; removal is prune.py's, and only of
worktrees recorded as created by the app.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
import unicodedata
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from filelock import FileLock, Timeout

from desktop.agents.base import PermanentError
from desktop.agents.process import ProgramNotFound, ProgramNotRunnable, run_program
from desktop.command_line import split_command
from desktop.errors import TaskValidationError
from desktop.workspaces.git import WorkspaceError, common_dir, git_ok, git_out, rev_parse, run_git
from desktop.workspaces.repos import check_repository

BRANCH_PREFIX = "agentq/"
SLUG_MAX_CHARS = 40
LOCK_NAME = "agentq-worktrees.lock"
LOCK_TIMEOUT_S = 60.0
SETUP_TAIL_LINES = 200
SETUP_TAIL_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where one task works.

    Attributes:
        path: the working folder (a worktree the app created, or the repository itself in place).
        branch: the branch checked out there.
        base: the base as given (a branch name, ``origin/main``, a commit).
        base_commit: the commit the branch started from.
        repo_path: the repository's own folder.
        created: True only for a worktree this app created: the only kind prune may remove.
        copied: untracked files copied in from the repository (relative paths).
    """

    path: str
    branch: str
    base: str
    base_commit: str
    repo_path: str
    created: bool
    copied: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["copied"] = list(self.copied)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Workspace:
        return cls(**{**data, "copied": tuple(data.get("copied") or ())})


class SetupFailed(WorkspaceError):
    """The setup command exited non-zero; its output is kept for the attempt's log."""

    def __init__(self, command: str, exit_code: int, output: str) -> None:
        super().__init__(f"setup command {command!r} failed with exit code {exit_code}\n{output}".rstrip())
        self.command = command
        self.exit_code = exit_code
        self.output = output


def slugify(text: str, max_chars: int = SLUG_MAX_CHARS) -> str:
    """A short lowercase ASCII slug of `text` (words joined by ``-``), ``task`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_chars:
            if not slug:
                slug = word[:max_chars]
            break
        slug = candidate
    return slug or "task"


def branch_name(task_id: int, prompt: str) -> str:
    """``agentq/<task id>-<slug>``: the full task id, so two tasks never share a branch."""
    return f"{BRANCH_PREFIX}{task_id}-{slugify(prompt)}"


@contextmanager
def repo_lock(repo_path: str | os.PathLike[str], timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the repository's worktree lock (across threads and processes) while the block runs."""
    path = common_dir(repo_path) / LOCK_NAME
    lock = FileLock(str(path), thread_local=False)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise WorkspaceError(f"the worktree lock of {repo_path} was held for over {timeout:g} s ({path})") from None
    try:
        yield
    finally:
        lock.release()


def create_worktree(
    repo_path: str | os.PathLike[str],
    task_id: int,
    prompt: str,
    worktrees_dir: str | os.PathLike[str],
    base: str,
) -> Workspace:
    """Create the task's worktree ``worktrees_dir/<task id>-<slug>`` on a new branch from `base`.

    Raises WorkspaceError when `base` names no commit, or the branch or the folder already exists
    (nothing is reused or overwritten), GitError when git refuses.
    """
    repo = check_repository(repo_path, "repo")
    branch = branch_name(task_id, prompt)
    path = Path(worktrees_dir).resolve() / branch.removeprefix(BRANCH_PREFIX)
    with repo_lock(repo):
        base_commit = rev_parse(repo, base)
        if base_commit is None:
            raise WorkspaceError(f"the base {base!r} names no commit in {repo}")
        if git_ok(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}"):
            raise WorkspaceError(f"the branch {branch!r} already exists in {repo}; it is left as it is")
        if path.exists():
            raise WorkspaceError(f"the folder {path} already exists; it is left as it is")
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git(repo, "worktree", "add", "--quiet", "-b", branch, str(path), base_commit)
    return Workspace(str(path), branch, base, base_commit, str(repo), created=True)


def in_place_workspace(repo_path: str | os.PathLike[str]) -> Workspace:
    """The repository's own folder as a task's workspace (``in-place`` mode): never removed."""
    repo = check_repository(repo_path, "repo")
    head = git_out(repo, "rev-parse", "HEAD")
    branch = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    return Workspace(str(repo), branch or head, branch or head, head, str(repo), created=False)


def validate_copy_patterns(patterns: Any, field: str = "copy") -> list[str]:
    """Check glob patterns of files to copy: relative, inside the repository, outside ``.git``."""
    if patterns is None:
        return []
    if not isinstance(patterns, list | tuple):
        raise TaskValidationError(field, "must be a list of glob patterns such as '.env'")
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not pattern.strip() or "\0" in pattern:
            raise TaskValidationError(f"{field}[{i}]", "must be a non-empty glob pattern")
        parts = PurePosixPath(pattern.replace("\\", "/")).parts
        if pattern.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", pattern) or ".." in parts:
            raise TaskValidationError(f"{field}[{i}]", "must be relative to the repository and stay inside it")
        if ".git" in parts:
            raise TaskValidationError(f"{field}[{i}]", "must not reach into .git")
    return list(patterns)


def copy_untracked(
    repo_path: str | os.PathLike[str], dest: str | os.PathLike[str], patterns: Sequence[str]
) -> list[str]:
    """Copy the repository's files matching `patterns` into `dest`; return their relative paths.

    Only regular files are copied (symbolic links are followed), never anything under ``.git``,
    never over a file that already exists in `dest` (tracked files are there already).
    """
    validate_copy_patterns(list(patterns))
    repo = Path(repo_path).resolve()
    target_root = Path(dest).resolve()
    copied: list[str] = []
    for pattern in patterns:
        for source in sorted(repo.glob(pattern)):
            relative = source.relative_to(repo)
            if ".git" in relative.parts or not source.is_file():
                continue
            target = target_root / relative
            if target.exists() or target.is_symlink() or relative.as_posix() in copied:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(relative.as_posix())
    return copied


def validate_setup_command(command: Any, field: str = "setup") -> list[str]:
    """The argv of a setup command line (split like a POSIX shell would, but never run by one)."""
    return split_command(command, field, when_empty="such as 'npm ci'")


def run_setup(
    workdir: str | os.PathLike[str],
    command: str,
    *,
    env: Mapping[str, str] | None = None,
    cancel_event: threading.Event | None = None,
    timeout_s: float | None = None,
) -> str:
    """Run the setup command in `workdir` and return its output (the last lines).

    Raises SetupFailed with the output when it exits non-zero, PermanentError when its program
    cannot be started, TaskCancelled / TaskTimeout like any action.
    """
    argv = validate_setup_command(command)
    lines: deque[str] = deque(maxlen=SETUP_TAIL_LINES)
    try:
        code = run_program(
            argv,
            on_line=lines.append,
            on_note=lines.append,
            cancel_event=cancel_event or threading.Event(),
            timeout_s=timeout_s,
            cwd=workdir,
            env={**os.environ, **(env or {})},
            name="setup command",
        )
    except (ProgramNotFound, ProgramNotRunnable) as exc:
        raise PermanentError(f"setup command {command!r}: {exc}") from None
    output = "\n".join(lines)[-SETUP_TAIL_CHARS:]
    if code != 0:
        raise SetupFailed(command, code, output)
    return output
