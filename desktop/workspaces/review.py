"""Reviewing what a coding task did, for the CLI and the window alike (no Qt): its facts (branch,
commits, cost, tokens, session, final message), its patch split per file, its transcripts, and
publishing its branch afterwards (push, pull request) with the same steps a run's `--push` uses.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.agents.coding.transcript import transcript_files
from desktop.command_line import split_command
from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import Attempt, Task, TaskQueueService, WorkspaceRecord
from desktop.workspaces.changes import commit_message, open_pull_request, push_branch, push_remote
from desktop.workspaces.git import run_git
from desktop.workspaces.worktrees import Workspace


def coding_facts(service: TaskQueueService, task: Task, attempts: list[Attempt]) -> dict[str, Any]:
    """What a coding task's review shows (and `agentq show` prints): its workspace and changes,
    cost, tokens and turns over its attempts, its session and final message. Empty for other tasks."""
    record = service.task_workspace(task.id)
    costed = [t for t in attempts if t.cost_usd is not None or t.input_tokens is not None]
    sessions = [t.details["session_id"] for t in attempts if t.details.get("session_id")]
    if record is None and not costed and not sessions:
        return {}
    summary = (record.summary if record else None) or {}
    turns = [t.details["turns"] for t in attempts if isinstance(t.details.get("turns"), int)]
    finals = [t.details["final_message"] for t in attempts if t.details.get("final_message")]
    return {
        "branch": record.branch if record else None, "worktree": record.path if record else None,
        "base_commit": record.base_commit if record else None, "head_commit": summary.get("head_commit"),
        "files_changed": summary.get("files_changed"), "commits": summary.get("commits"),
        "lines_added": summary.get("lines_added"), "lines_removed": summary.get("lines_removed"),
        "uncommitted": summary.get("uncommitted"), "pushed": summary.get("pushed"), "pr_url": summary.get("pr_url"),
        "cost_usd": round(sum(t.cost_usd or 0.0 for t in attempts), 6) if costed else None,
        "input_tokens": sum(t.input_tokens or 0 for t in attempts) if costed else None,
        "output_tokens": sum(t.output_tokens or 0 for t in attempts) if costed else None,
        "cached_tokens": sum(t.cached_tokens or 0 for t in attempts) if costed else None,
        "turns": sum(turns) if turns else None,
        "session_id": sessions[-1] if sessions else None,
        "final_message": finals[-1] if finals else None,
        "worktree_removed": record.removed_at is not None if record else None,
    }


# -- the patch, file by file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilePatch:
    """The part of a patch about one file: its path, lines added and removed, and its text."""

    path: str
    added: int
    removed: int
    text: str


def split_patch(patch: str) -> list[FilePatch]:
    """A ``git diff`` split at each ``diff --git`` header, with +/- counted from its hunks."""
    files: list[FilePatch] = []
    chunk: list[str] = []

    def close() -> None:
        if chunk:
            files.append(_file_patch(chunk))

    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git ") and chunk:
            close()
            chunk = []
        chunk.append(line)
    close()
    return files


def _file_patch(lines: list[str]) -> FilePatch:
    path, added, removed, in_hunk = "", 0, 0, False
    header = lines[0].rstrip("\n")
    if header.startswith("diff --git ") and " b/" in header:
        path = header.rsplit(" b/", 1)[1]
    for line in lines[1:]:
        if line.startswith("@@"):
            in_hunk = True
        elif not in_hunk and line.startswith("+++ ") and line[4:].strip() != "/dev/null":
            path = line[4:].rstrip("\n").removeprefix("b/")
        elif in_hunk and line.startswith("+"):
            added += 1
        elif in_hunk and line.startswith("-"):
            removed += 1
    return FilePatch(path or header, added, removed, "".join(lines))


def read_patch(task_id: int) -> str | None:
    """The stored patch of the task's last run, or None when it has none."""
    from desktop.workspaces.task_runs import patch_path

    path = patch_path(task_id)
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else None


def task_transcripts(task: Task, attempts: list[Attempt]) -> list[Path]:
    """The task's transcript files, oldest first: those its attempts name, then (while it runs)
    the one its running attempt is writing."""
    named = [Path(a.details["transcript_path"]) for a in attempts if a.details.get("transcript_path")]
    files = [p for p in named if p.is_file()]
    if attempts and attempts[-1].finished_at is None:
        folder = files[-1].parent if files else None
        live = [p for p in transcript_files(task.id, folder) if p not in files]
        files += live[-1:]
    return files


# -- after the run: publishing, opening ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Published:
    """What publishing a task's branch did: pushed or not, the pull request's URL, why not."""

    pushed: bool
    pr_url: str | None
    notes: tuple[str, ...]


def workspace_of(record: WorkspaceRecord) -> Workspace:
    return Workspace(record.path, record.branch, record.base, record.base_commit or "", record.repo_path,
                     record.created, record.copied)


def live_workspace(service: TaskQueueService, task_id: int) -> WorkspaceRecord:
    """The task's recorded workspace whose folder still exists; NotFoundError saying why not."""
    record = service.task_workspace(task_id)
    if record is None:
        raise NotFoundError(f"task {task_id} has no workspace: it works on no repository or has not run yet")
    if record.removed_at is not None or not Path(record.path).is_dir():
        raise NotFoundError(f"the worktree of task {task_id} ({record.path}) was removed")
    return record


def publish(service: TaskQueueService, task: Task, *, open_pr: bool, gh: str = "gh") -> Published:
    """Push the task's branch (and with `open_pr` run ``gh pr create``), as a run with ``--push``
    does; the workspace's summary records the outcome. Failures are notes, never exceptions."""
    record = live_workspace(service, task.id)
    repo = service.get_repo(record.repo)
    if repo.mode != "worktree":
        raise TaskValidationError("repo", f"{repo.name} runs tasks in place: there is no task branch to push")
    ws = workspace_of(record)
    ahead = run_git(ws.path, "rev-list", "--count", f"{ws.base_commit}..refs/heads/{ws.branch}", check=False)
    note = "not pushed: the branch has no new commits" if ahead.stdout.strip() in ("", "0") else push_branch(ws)
    notes = [note] if note else []
    pr_url = None
    if open_pr and note is None:
        prompt = task.payload.get("prompt", "") if isinstance(task.payload, dict) else ""
        pr_url, pr_note = open_pull_request(
            ws, title=commit_message(str(prompt) or ws.branch).splitlines()[0],
            body=f"{prompt}\n\n(Agent Queue task {task.id})", base_branch=repo.base_branch or ws.base.removeprefix("origin/"),
            gh=gh,
        )
        if pr_note:
            notes.append(pr_note)
    summary = dict(record.summary or {})
    summary["pushed"] = summary.get("pushed", False) or note is None
    if pr_url:
        summary["pr_url"] = pr_url
    summary["notes"] = [*summary.get("notes", []), *notes]
    service.workspaces.update(record.id, summary=summary)
    return Published(note is None, pr_url, tuple(notes))


def gh_available(gh: str = "gh") -> bool:
    return shutil.which(gh) is not None


def command_argv(template: str, path: str, field: str) -> list[str]:
    """A user's command (``code {path}``, ``kitty --directory {path}``) as argv for `path`: {path} is
    replaced, or the path appended when the command does not name it."""
    argv = split_command(template, field, when_empty="set it in Settings")
    if not any("{path}" in a for a in argv):
        return [*argv, path]
    return [a.replace("{path}", path) for a in argv]


TERMINALS = ("x-terminal-emulator", "gnome-terminal", "konsole", "xfce4-terminal", "kitty", "alacritty", "xterm")


def terminal_argv(template: str, path: str) -> list[str]:
    """The terminal to open in `path`: the user's command, else the system's usual one."""
    if template.strip():
        return command_argv(template, path, "terminal_command")
    if sys.platform == "darwin":
        return ["open", "-a", "Terminal", path]
    if os.name == "nt":
        return ["cmd", "/c", "start", "cmd", "/k", f"cd /d {path}"]
    found = next((t for t in TERMINALS if shutil.which(t)), None)
    if found is None:
        raise TaskValidationError("terminal_command", "no terminal program found: set one in Settings")
    return [found]  # started in the folder (its working directory)


def editor_argv(template: str, path: str) -> list[str]:
    """The editor to open `path` with: the user's "Editor command", else $VISUAL."""
    return command_argv(template.strip() or os.environ.get("VISUAL", ""), path, "editor_command")


@dataclass(frozen=True, slots=True)
class Review:
    """Everything a coding task's review pages show, read at once (off the GUI thread)."""

    facts: dict[str, Any]
    transcripts: list[Path]
    patch: str | None
    record: WorkspaceRecord | None
    worktree: bool = False  # the task has a branch of its own (worktree mode), not the clone in place
    remote: str | None = None  # where a push of its branch goes, if anywhere
    gh: bool = False  # the GitHub CLI is installed: a pull request can be opened

    @property
    def is_coding(self) -> bool:
        return bool(self.facts or self.transcripts or self.record)

    @property
    def folder(self) -> str | None:
        """The task's worktree while it exists on disk."""
        record = self.record
        return record.path if record and record.removed_at is None and Path(record.path).is_dir() else None


def load_review(service: TaskQueueService, task: Task, attempts: list[Attempt], gh: str = "gh") -> Review:
    record = service.task_workspace(task.id)
    worktree, remote = False, None
    if record is not None and Path(record.repo_path).is_dir():
        repo = service.find_repo(record.repo)
        worktree = repo is not None and repo.mode == "worktree"
        remote = push_remote(record.repo_path, record.branch) if worktree else None
    return Review(coding_facts(service, task, attempts), task_transcripts(task, attempts), read_patch(task.id),
                  record, worktree, remote, gh_available(gh))
