"""Running git through its command line (`git -C REPO ...`, argv lists, never a shell).

Every call runs non-interactively: no terminal prompt for credentials, ssh in batch mode unless
the user configured their own ssh command, English messages. A failure raises GitError naming the
command, where it ran, the exit code and the end of git's stderr.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from desktop.errors import AgentQueueError

LOCAL_TIMEOUT_S = 120.0  # reading or writing the local repository
NETWORK_TIMEOUT_S = 600.0  # clone, fetch, push
STDERR_TAIL_CHARS = 2000


class WorkspaceError(AgentQueueError):
    """A workspace could not be prepared, read or cleaned up; the message says what and why."""


class GitError(WorkspaceError):
    """A git command failed.

    Attributes:
        args_: the git arguments (after ``git -C REPO``).
        repo: the folder it ran in.
        returncode: git's exit code (None when it timed out).
        stderr: the end of what git printed on stderr.
    """

    def __init__(self, args: Sequence[str], repo: str, returncode: int | None, stderr: str) -> None:
        what = "timed out" if returncode is None else f"failed (exit {returncode})"
        tail = stderr.strip()[-STDERR_TAIL_CHARS:]
        super().__init__(f"git {' '.join(args)} {what} in {repo}" + (f": {tail}" if tail else ""))
        self.args_ = tuple(args)
        self.repo = repo
        self.returncode = returncode
        self.stderr = tail


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: the worker's, made non-interactive."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    if extra:
        env.update(extra)
    return env


def run_git(
    repo: str | os.PathLike[str],
    *args: str,
    check: bool = True,
    timeout: float = LOCAL_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git -C repo *args`` and return it with stdout and stderr decoded (UTF-8, replacing)."""
    argv = ["git", "-C", str(repo), "-c", "core.quotePath=false", *args]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            env=git_env(env),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode("utf-8", errors="replace")
        raise GitError(args, str(repo), None, stderr + f"\n(no answer after {timeout:g} s)") from None
    except FileNotFoundError:
        raise WorkspaceError("git is not installed (or not on PATH); install git to use repositories") from None
    result = subprocess.CompletedProcess(
        argv,
        proc.returncode,
        proc.stdout.decode("utf-8", errors="replace"),
        proc.stderr.decode("utf-8", errors="replace"),
    )
    if check and proc.returncode != 0:
        raise GitError(args, str(repo), proc.returncode, result.stderr)
    return result


def git_out(repo: str | os.PathLike[str], *args: str, timeout: float = LOCAL_TIMEOUT_S) -> str:
    """The stripped stdout of a git command that must succeed."""
    return run_git(repo, *args, timeout=timeout).stdout.strip()


def git_ok(repo: str | os.PathLike[str], *args: str) -> bool:
    """Whether a git command succeeds (for questions such as "does this ref exist?")."""
    return run_git(repo, *args, check=False).returncode == 0


def rev_parse(repo: str | os.PathLike[str], rev: str) -> str | None:
    """The full commit id `rev` names in `repo`, or None when it names no commit."""
    proc = run_git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def common_dir(repo: str | os.PathLike[str]) -> Path:
    """The repository's shared git folder (``.git`` of the main worktree, or a bare repository)."""
    path = Path(git_out(repo, "rev-parse", "--git-common-dir"))
    return path if path.is_absolute() else (Path(repo) / path).resolve()
