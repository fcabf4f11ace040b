"""What a task changed in its workspace: commits, files, the patch; and, if asked, commit, push, PR.

The figures compare the base commit with the workspace as the agent left it, uncommitted and
untracked files included (read through a temporary index, so the workspace's own index is never
touched). Files the app copied in (`Workspace.copied`) are left out while they still equal the
repository's. Push and pull-request failures never raise: the summary's notes say why.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.workspaces.git import NETWORK_TIMEOUT_S, GitError, git_env, git_out, run_git
from desktop.workspaces.worktrees import Workspace

PATCH_LIMIT_BYTES = 5 * 1024 * 1024
SUBJECT_MAX_CHARS = 72
GH_TIMEOUT_S = 120.0
FALLBACK_IDENTITY = ("-c", "user.name=Agent Queue", "-c", "user.email=agentq@localhost")


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file changed since the base: lines added and removed (None for a binary file)."""

    path: str
    added: int | None
    removed: int | None
    old_path: str | None = None  # the path before a rename

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class ChangeSummary:
    """What the agent's run left in its workspace.

    Attributes:
        base_commit / head_commit: where the branch started and where it is now.
        branch: the workspace's branch.
        commits: commits made on it since the base (``rev-list --count base..HEAD``).
        files: every file that differs from the base, committed or not.
        uncommitted: whether changes are left that no commit holds.
        committed: whether this summary committed the agent's leftover changes.
        patch: ``git diff`` from the base, at most PATCH_LIMIT_BYTES (cut at a line end).
        patch_truncated / patch_bytes: whether it was cut, and its whole size.
        pushed / pr_url: the push and the pull request, when asked for and done.
        notes: what went wrong without failing the task (push, pull request, commit).
    """

    base_commit: str
    head_commit: str
    branch: str
    commits: int
    files: tuple[FileChange, ...]
    uncommitted: bool
    patch: str
    patch_truncated: bool
    patch_bytes: int
    committed: bool = False
    pushed: bool = False
    pr_url: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def lines_added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def lines_removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["files"] = [f.to_json() for f in self.files]
        data["notes"] = list(self.notes)
        return data


def commit_message(prompt: str) -> str:
    """The prompt as a commit message: a subject line of at most SUBJECT_MAX_CHARS, then the whole prompt."""
    text = prompt.strip() or "Agent Queue task"
    first = text.splitlines()[0].strip()
    subject = first if len(first) <= SUBJECT_MAX_CHARS else first[: SUBJECT_MAX_CHARS - 1].rstrip() + "…"
    return subject if subject == text else f"{subject}\n\n{text}"


def dirty_paths(ws: Workspace) -> list[str]:
    """Paths with changes no commit holds (``git status``), less copied files still equal to the original."""
    out = run_git(ws.path, "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
    entries = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            i += 1  # the path it was renamed or copied from follows
        if status == "??" and path in ws.copied and is_untouched_copy(ws, path):
            continue
        paths.append(path)
    return paths


def is_untouched_copy(ws: Workspace, relative: str) -> bool:
    """Whether the copied file `relative` still has exactly the bytes of the repository's original."""
    mine, original = Path(ws.path) / relative, Path(ws.repo_path) / relative
    try:
        if mine.stat().st_size != original.stat().st_size:
            return False
        return mine.read_bytes() == original.read_bytes()
    except OSError:
        return False


def _untouched_copies(ws: Workspace) -> list[str]:
    """Copies to leave out of `git add`: those still equal to the original, less the ignored ones
    (such as a .env): `git add` leaves those alone anyway, and refuses a pathspec that names one."""
    copies = [path for path in ws.copied if is_untouched_copy(ws, path)]
    if not copies:
        return []
    ignored = set(run_git(ws.path, "check-ignore", "--no-index", "--", *copies, check=False).stdout.splitlines())
    return [path for path in copies if path not in ignored]


def _excludes(paths: list[str]) -> list[str]:
    return [f":(exclude,literal){path}" for path in paths]


def commit_leftovers(ws: Workspace, message: str) -> str | None:
    """Commit every change the agent left (copies excluded) on the branch; None, or a note saying why not."""
    index = _index_file(ws)
    with tempfile.TemporaryDirectory(prefix="agentq-index-") as tmp:
        saved = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, saved)
        try:
            run_git(ws.path, "add", "--all", "--", ".", *_excludes(_untouched_copies(ws)))
            proc = run_git(ws.path, "commit", "--quiet", "-m", message, check=False)
            if proc.returncode != 0 and ("tell me who you are" in proc.stderr or "empty ident" in proc.stderr):
                proc = run_git(ws.path, *FALLBACK_IDENTITY, "commit", "--quiet", "-m", message, check=False)
            failure = None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-500:]
        except GitError as exc:
            failure = str(exc)
        if failure is None:
            return None
        if saved.exists():
            shutil.copyfile(saved, index)  # the index as the agent left it
        return f"could not commit the uncommitted changes: {failure}"


@contextmanager
def _working_tree(ws: Workspace, dirty: bool) -> Iterator[str]:
    """A tree object of the workspace as it is (untracked files included), via a throwaway index."""
    if not dirty:
        yield git_out(ws.path, "rev-parse", "HEAD^{tree}")
        return
    index = _index_file(ws)
    with tempfile.TemporaryDirectory(prefix="agentq-index-") as tmp:
        temp_index = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, temp_index)  # keeps git's stat cache: no rehashing of every file
        env = {"GIT_INDEX_FILE": str(temp_index)}
        if not index.exists():
            run_git(ws.path, "read-tree", "HEAD", env=env)
        run_git(ws.path, "add", "--all", "--", ".", *_excludes(_untouched_copies(ws)), env=env)
        yield run_git(ws.path, "write-tree", env=env).stdout.strip()


def _index_file(ws: Workspace) -> Path:
    path = Path(git_out(ws.path, "rev-parse", "--git-path", "index"))
    return path if path.is_absolute() else Path(ws.path) / path


def _numstat(ws: Workspace, tree: str) -> tuple[FileChange, ...]:
    out = run_git(ws.path, "diff", "--numstat", "-z", "-M", ws.base_commit, tree).stdout
    fields = out.split("\0")
    files: list[FileChange] = []
    i = 0
    while i < len(fields):
        head = fields[i]
        i += 1
        if not head:
            continue
        added, removed, path = head.split("\t", 2)
        old_path = None
        if not path:  # a rename: the old and the new path follow as their own fields
            old_path, path = fields[i], fields[i + 1]
            i += 2
        files.append(
            FileChange(path, None if added == "-" else int(added), None if removed == "-" else int(removed), old_path)
        )
    return tuple(files)


def bounded_patch(ws: Workspace, tree: str, limit: int = PATCH_LIMIT_BYTES) -> tuple[str, bool, int]:
    """``git diff base tree`` as (text, truncated, whole size in bytes), keeping at most `limit` bytes."""
    argv = ["git", "-C", ws.path, "-c", "core.quotePath=false", "diff", "-M", ws.base_commit, tree]
    kept = bytearray()
    total = 0
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=git_env()
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        while chunk := proc.stdout.read(64 * 1024):
            total += len(chunk)
            if len(kept) <= limit:
                kept.extend(chunk[: limit + 1 - len(kept)])
        stderr = proc.stderr.read().decode("utf-8", errors="replace")
        code = proc.wait()
    if code != 0:
        raise GitError(argv[5:], ws.path, code, stderr)
    truncated = total > limit
    if truncated:
        cut = kept.rfind(b"\n", 0, limit)
        kept = kept[: cut + 1 if cut >= 0 else limit]
    return kept.decode("utf-8", errors="replace"), truncated, total


def summarize_changes(
    ws: Workspace, *, commit_message: str | None = None, patch_limit: int = PATCH_LIMIT_BYTES
) -> ChangeSummary:
    """Read what changed since `ws.base_commit`; with `commit_message`, first commit what is left."""
    notes: list[str] = []
    committed = False
    dirty = bool(dirty_paths(ws))
    if dirty and commit_message is not None:
        note = commit_leftovers(ws, commit_message)
        if note is None:
            committed = True
        else:
            notes.append(note)
        dirty = bool(dirty_paths(ws))
    head = git_out(ws.path, "rev-parse", "HEAD")
    commits = int(git_out(ws.path, "rev-list", "--count", f"{ws.base_commit}..{head}"))
    with _working_tree(ws, dirty) as tree:
        files = _numstat(ws, tree)
        patch, truncated, size = bounded_patch(ws, tree, patch_limit)
    if truncated:
        notes.append(f"the patch is {size} bytes; only the first {len(patch.encode('utf-8'))} are kept")
    current = run_git(ws.path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if current and current != ws.branch:
        notes.append(f"the agent switched the workspace to the branch {current!r}")
    return ChangeSummary(
        base_commit=ws.base_commit,
        head_commit=head,
        branch=ws.branch,
        commits=commits,
        files=files,
        uncommitted=dirty,
        patch=patch,
        patch_truncated=truncated,
        patch_bytes=size,
        committed=committed,
        notes=tuple(notes),
    )


def push_remote(repo_path: str, branch: str) -> str | None:
    """Where a push of `branch` goes: its upstream's remote, else ``origin``, else the first; None
    when the repository has no remote."""
    upstream = run_git(repo_path, "config", "--get", f"branch.{branch}.remote", check=False).stdout.strip()
    remotes = run_git(repo_path, "remote", check=False).stdout.split()
    return upstream or ("origin" if "origin" in remotes else (remotes[0] if remotes else None))


def push_branch(ws: Workspace, remote: str | None = None) -> str | None:
    """Push the workspace's branch to `remote` (default: push_remote's); None, or why not."""
    remote = remote or push_remote(ws.repo_path, ws.branch)
    if remote is None:
        return f"not pushed: {ws.repo_path} has no remote"
    try:
        run_git(
            ws.path, "push", "--quiet", "--set-upstream", remote, f"refs/heads/{ws.branch}:refs/heads/{ws.branch}",
            timeout=NETWORK_TIMEOUT_S,
        )
    except GitError as exc:
        return f"not pushed to {remote}: {exc.stderr or exc}"
    return None


def open_pull_request(
    ws: Workspace, *, title: str, body: str, base_branch: str, gh: str = "gh"
) -> tuple[str | None, str | None]:
    """Run ``gh pr create`` for the pushed branch: (the PR's URL, None), or (None, why not)."""
    program = shutil.which(gh)
    if program is None:
        return None, f"no pull request: the GitHub CLI ({gh!r}) is not installed"
    argv = [program, "pr", "create", "--head", ws.branch, "--base", base_branch, "--title", title, "--body", body]
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "GIT_TERMINAL_PROMPT": "0", "NO_COLOR": "1"}
    try:
        proc = subprocess.run(
            argv, cwd=ws.path, env=env, capture_output=True, text=True, errors="replace",
            stdin=subprocess.DEVNULL, timeout=GH_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"no pull request: gh pr create gave no answer in {GH_TIMEOUT_S:g} s"
    except OSError as exc:
        return None, f"no pull request: cannot run {program!r}: {exc}"
    urls = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(("http://", "https://"))]
    if proc.returncode != 0 or not urls:
        detail = (proc.stderr or proc.stdout).strip()[-500:] or f"exit code {proc.returncode}"
        return None, f"no pull request: gh pr create failed: {detail}"
    return urls[-1], None


def finish_workspace(
    ws: Workspace,
    *,
    commit_message: str | None = None,
    push: bool = False,
    open_pr: bool = False,
    pr_title: str = "",
    pr_body: str = "",
    pr_base: str | None = None,
    gh: str = "gh",
    patch_limit: int = PATCH_LIMIT_BYTES,
) -> ChangeSummary:
    """Summarise the run, then push and open a pull request when asked; failures of those are notes."""
    summary = summarize_changes(ws, commit_message=commit_message, patch_limit=patch_limit)
    if not push:
        return summary
    notes = list(summary.notes)
    pushed, pr_url = False, None
    if summary.commits == 0:
        notes.append("not pushed: the branch has no new commits")
    else:
        note = push_branch(ws)
        pushed = note is None
        if note:
            notes.append(note)
    if open_pr and pushed:
        title = pr_title or (commit_message or ws.branch).splitlines()[0]
        base = pr_base or ws.base.removeprefix("origin/")
        pr_url, note = open_pull_request(ws, title=title, body=pr_body, base_branch=base, gh=gh)
        if note:
            notes.append(note)
    return dataclasses.replace(summary, pushed=pushed, pr_url=pr_url, notes=tuple(notes))
