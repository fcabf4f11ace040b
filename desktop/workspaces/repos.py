"""Repositories tasks work on: a local clone the user gave, or a URL cloned once into a data folder.

A local path is used as it is (never fetched, never deleted). A URL is cloned once into
``clones_dir/<name>-<hash of the URL>`` and fetched before each task; when the fetch fails
(offline, server down) the task goes on with what is there and the returned note says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from desktop.errors import TaskValidationError
from desktop.workspaces.git import NETWORK_TIMEOUT_S, GitError, WorkspaceError, git_out, run_git

CLONE_LOCK_TIMEOUT_S = NETWORK_TIMEOUT_S + 60.0
_URL_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


@dataclass(frozen=True, slots=True)
class RepoCheckout:
    """Where a repository's tasks start from.

    Attributes:
        path: the folder of the clone (the user's own, or the app's clone of `url`).
        url: the URL it was cloned from, or None for a local repository.
        cloned: True when this call made the clone.
        fetched: True when this call fetched from the remote successfully.
        note: what went wrong but did not stop the task (an offline fetch), or None.
    """

    path: str
    url: str | None
    cloned: bool = False
    fetched: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def is_url(location: str) -> bool:
    """Whether `location` is a URL git clones (``https://``, ``ssh://``, ``file://``, ``git@host:path``)."""
    return bool(_URL_RE.match(location.strip()))


def check_repository(path: str | os.PathLike[str], field: str = "path") -> Path:
    """The top folder of the git working tree at `path`; TaskValidationError naming `field` if it is none."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise TaskValidationError(field, f"{str(folder)!r} does not exist")
    if not folder.is_dir():
        raise TaskValidationError(field, f"{str(folder)!r} is not a folder")
    bare = run_git(folder, "rev-parse", "--is-bare-repository", check=False)
    if bare.returncode != 0:
        reason = (bare.stderr.strip().splitlines() or ["git rev-parse failed"])[-1]
        raise TaskValidationError(field, f"{str(folder)!r} is not a git repository ({reason})")
    if bare.stdout.strip() == "true":
        raise TaskValidationError(field, f"{str(folder)!r} is a bare repository; give a clone with a working tree")
    top = run_git(folder, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0 or not top.stdout.strip():
        raise TaskValidationError(field, f"{str(folder)!r} is not in a git working tree")
    toplevel = Path(top.stdout.strip()).resolve()
    if toplevel != folder.resolve():
        inside = f"{str(folder)!r} is inside the git repository {str(toplevel)!r}; give its top folder"
        raise TaskValidationError(field, inside)
    return toplevel


def clone_folder(url: str, clones_dir: str | os.PathLike[str]) -> Path:
    """Where `url` is (or will be) cloned: a readable name plus a hash, so two URLs never share one."""
    stem = re.sub(r"\.git$", "", url.rstrip("/").replace(":", "/").split("/")[-1]) or "repo"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "repo"
    digest = hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:10]
    return Path(clones_dir) / f"{stem}-{digest}"


def ensure_clone(url: str, clones_dir: str | os.PathLike[str], *, fetch: bool = True) -> RepoCheckout:
    """Clone `url` into `clones_dir` the first time; later, fetch it (when `fetch`).

    Two processes asking at once clone it once: the clone is made under a lock, in a temporary
    folder renamed into place, so a half-made clone is never taken for a whole one. A failed
    clone raises GitError (an unreachable or wrong URL); a failed fetch only sets the note.
    """
    target = clone_folder(url, clones_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(target) + ".lock")
    try:
        with lock.acquire(timeout=CLONE_LOCK_TIMEOUT_S):
            if target.exists():
                if not fetch:
                    return RepoCheckout(str(target), url)
                note = fetch_remote(target)
                return RepoCheckout(str(target), url, fetched=note is None, note=note)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                run_git(staging, "clone", "--quiet", "--", url, str(staging), timeout=NETWORK_TIMEOUT_S)
                os.rename(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # only the folder this call made
                raise
            return RepoCheckout(str(target), url, cloned=True, fetched=True)
    except Timeout:
        raise WorkspaceError(f"another process has been cloning {url} for too long ({target})") from None


def fetch_remote(repo: str | os.PathLike[str], remote: str = "origin") -> str | None:
    """Fetch `remote` into `repo`; None when it worked, else a note saying the task uses what is there."""
    try:
        run_git(repo, "fetch", "--quiet", "--prune", remote, timeout=NETWORK_TIMEOUT_S)
    except GitError as exc:
        return f"could not fetch {remote} (offline?); working from the last fetched state: {exc.stderr or exc}"
    return None


def default_branch(repo: str | os.PathLike[str]) -> str:
    """The branch new work starts from when none is given: the remote's default, else the current one."""
    proc = run_git(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", check=False)
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip().removeprefix("origin/")
    return git_out(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
