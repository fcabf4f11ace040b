"""Running a task of a repository: its workspace before the agent starts, what changed after it exits.

Before: a URL's clone is fetched (offline, the task goes on and its log says so); in worktree mode
the task reuses its recorded worktree (a retry) or its parent's (a follow-up), or gets a new one on
``agentq/<task id>-<slug>``, recorded in the database before it is made; the repository's files are
copied in and its setup command run (a failure fails the attempt with its output); the task gets a
PORT no other running task holds. Then the agent's kind runs there, with AGENTQ_TASK_ID,
AGENTQ_WORKTREE, AGENTQ_BRANCH and PORT in its environment: a coding agent in the folder, resuming
the task's (or its parent's) session; a ``command`` in the folder unless its config names another,
with ``{worktree}`` and ``{branch}`` placeholders. After it exits, however it ended: the changes
(commits, files, uncommitted), the bounded patch in a file of the data folder, the summary in the
workspace row and, on success, the task's result; then, when the repository asks, push and a pull
request (their failures are notes). Runs on the task's slot thread; its database calls are short
transactions of their own, off the hot path. No Qt here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop import paths
from desktop.agents.base import AgentKind, PermanentError, TaskContext
from desktop.agents.coding import CodingAgentKind
from desktop.agents.command import CommandKind
from desktop.errors import AgentQueueError, NotFoundError, TaskValidationError
from desktop.private_files import write_private_text
from desktop.queue import Repo, Task, TaskQueueService, WorkspaceRecord
from desktop.workspaces.changes import ChangeSummary, commit_message, finish_workspace
from desktop.workspaces.git import common_dir, git_out
from desktop.workspaces.ports import free_port
from desktop.workspaces.repos import check_repository, default_branch, ensure_clone
from desktop.workspaces.worktrees import (
    BRANCH_PREFIX,
    Workspace,
    branch_name,
    copy_untracked,
    create_worktree,
    in_place_workspace,
    run_setup,
)

log = logging.getLogger(__name__)
FILES_IN_RESULT = 500  # files listed in a task's result; the patch file has them all


@dataclass(frozen=True, slots=True)
class Folders:
    """Where the app keeps repositories' worktrees and tasks' patches."""

    worktrees: Path
    patches: Path

    @classmethod
    def under(cls, data_dir: str | os.PathLike[str]) -> Folders:
        root = Path(data_dir)
        return cls(worktrees=root / "worktrees", patches=root / "patches")


def clones_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where URLs are cloned (`agentq repos add URL`)."""
    return Path(data_dir if data_dir is not None else paths.data_dir()) / "clones"


def patch_path(task_id: int, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The file holding the patch of task `task_id`'s last attempt."""
    return Folders.under(data_dir if data_dir is not None else paths.data_dir()).patches / f"task-{task_id}.patch"


class WorkspaceRunner:
    """Runs repository tasks in their workspaces (see the module's docstring)."""

    def __init__(
        self,
        service: TaskQueueService,
        folders: Folders | None = None,
        *,
        gh: str = "gh",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self._folders = folders
        self.gh = gh
        self._monotonic = monotonic

    @property
    def folders(self) -> Folders:
        return self._folders or Folders.under(paths.data_dir())

    def run(self, task: Task, kind: AgentKind, config: dict[str, Any], ctx: TaskContext) -> Any:
        """Prepare the task's workspace, run `kind` there, summarise what changed."""
        started = self._monotonic()
        repo = self._repo(task)
        checkout, base = self._checkout(repo, ctx)
        record, ws = self._workspace(task, repo, checkout, base, _prompt_of(task))
        env = {"AGENTQ_TASK_ID": str(task.id), "AGENTQ_WORKTREE": ws.path, "AGENTQ_BRANCH": ws.branch}
        env["PORT"] = str(self.service.workspaces.assign_port(record.id, free_port))
        ctx.log(f"workspace: {ws.path} on branch {ws.branch} (base {ws.base_commit[:12]}), PORT {env['PORT']}")
        if record.prepared_at is None:
            record, ws = self._prepare(record, ws, repo, env, ctx, started)
        session = self._session(task, kind)
        if ctx.timeout_s is not None:  # what setup took comes off the agent's time
            ctx.timeout_s = max(0.001, ctx.timeout_s - (self._monotonic() - started))
        ctx.check_cancelled()
        try:
            result = self._run_kind(task, kind, config, ctx, ws, env, session)
        except BaseException:
            self._finish(task, repo, record, ws, ctx, succeeded=False)
            raise
        changes = self._finish(task, repo, record, ws, ctx, succeeded=True)
        return {**(result if isinstance(result, dict) else {"result": result}), **changes}

    # -- before ---------------------------------------------------------------------------------

    def _repo(self, task: Task) -> Repo:
        try:
            return self.service.get_repo(task.repo or "")
        except NotFoundError:
            raise PermanentError(
                f"repo: the repository {task.repo!r} is no longer registered (agentq repos add it again)"
            ) from None

    def _checkout(self, repo: Repo, ctx: TaskContext) -> tuple[Path, str]:
        """The clone tasks start from (a URL's fetched first) and the base they start from."""
        if repo.url is not None:
            checkout = ensure_clone(repo.url, Path(repo.local_path).parent)
            if checkout.note:
                ctx.log(checkout.note)
            folder = Path(checkout.path)
            return folder, f"origin/{repo.base_branch or default_branch(folder)}"
        try:
            folder = check_repository(repo.local_path, "repo")
        except TaskValidationError as exc:
            raise PermanentError(f"repository {repo.name}: {exc.rule}") from None
        return folder, repo.base_branch or default_branch(folder)

    def _workspace(
        self, task: Task, repo: Repo, checkout: Path, base: str, prompt: str
    ) -> tuple[WorkspaceRecord, Workspace]:
        records = self.service.workspaces
        own = records.of_task(task.id)
        if own is not None and own.base_commit and own.removed_at is None and Path(own.path).is_dir():
            return own, _workspace_of(own)  # a retry: the same folder, branch and base
        if own is not None and own.base_commit:
            raise PermanentError(
                f"the worktree {own.path} of this task is gone; enqueue the prompt again for a new one"
            )
        if own is not None:  # recorded by an attempt that died before the worktree was made
            records.forget(own.id)
        if repo.mode == "in-place":
            ws = in_place_workspace(checkout)
            record = records.record(
                task.id, repo.name, str(checkout), ws.path, ws.branch, ws.base, created=False,
                base_commit=ws.base_commit,
            )
            return record, ws
        if task.follow_up_of is not None:
            return self._follow_up_workspace(task, repo)
        branch = branch_name(task.id, prompt)
        folder = self.folders.worktrees / repo.name
        path = folder.resolve() / branch.removeprefix(BRANCH_PREFIX)
        record = records.record(task.id, repo.name, str(checkout), str(path), branch, base, created=True)
        try:
            ws = create_worktree(checkout, task.id, prompt, folder, base)
        except BaseException:
            records.forget(record.id)  # nothing was made: nothing to remember
            raise
        return records.update(record.id, base_commit=ws.base_commit), ws

    def _follow_up_workspace(self, task: Task, repo: Repo) -> tuple[WorkspaceRecord, Workspace]:
        """A follow-up works in its parent's worktree, on its branch, from where the parent left it."""
        parent = self.service.workspaces.of_task(task.follow_up_of or 0)
        if parent is None or parent.removed_at is not None or not Path(parent.path).is_dir():
            raise PermanentError(
                f"follow_up_of: task {task.follow_up_of} has no worktree left to continue in "
                "(it ran in no workspace, or its worktree was pruned)"
            )
        head = git_out(parent.path, "rev-parse", "HEAD")
        record = self.service.workspaces.record(
            task.id, repo.name, parent.repo_path, parent.path, parent.branch, parent.base, created=False,
            base_commit=head,
        )
        record = self.service.workspaces.update(
            record.id, copied=list(parent.copied),
            prepared_at=None if parent.prepared_at is None else parent.prepared_at.timestamp(),
        )
        return record, _workspace_of(record)

    def _prepare(
        self, record: WorkspaceRecord, ws: Workspace, repo: Repo, env: dict[str, str], ctx: TaskContext,
        started: float,
    ) -> tuple[WorkspaceRecord, Workspace]:
        """Copy the repository's listed files in (a worktree only) and run its setup command."""
        records = self.service.workspaces
        if ws.created and repo.copy_patterns:
            copied = copy_untracked(ws.repo_path, ws.path, repo.copy_patterns)
            if copied:
                ctx.log(f"copied into the worktree: {', '.join(copied)}")
            record = records.update(record.id, copied=copied)
            ws = dataclasses.replace(ws, copied=tuple(copied))
        if repo.setup_command:
            ctx.log(f"setup: {repo.setup_command}")
            left = None if ctx.timeout_s is None else max(0.001, ctx.timeout_s - (self._monotonic() - started))
            output = run_setup(ws.path, repo.setup_command, env=env, cancel_event=ctx.cancel_event, timeout_s=left)
            for line in output.splitlines():
                ctx.log(line)
        return records.update(record.id, prepared_at=self.service.clock()), ws

    def _session(self, task: Task, kind: AgentKind) -> str | None:
        """The session to resume: the payload's, else the task's own latest, else (a follow-up
        of an agent of the same kind) its parent's."""
        if not isinstance(kind, CodingAgentKind) or "resume" not in kind.preset.options:
            return None
        payload = task.payload if isinstance(task.payload, dict) else {}
        if payload.get("session_id"):
            return str(payload["session_id"])
        own = _last_session(self.service, task.id)
        if own is not None or task.follow_up_of is None:
            return own
        try:
            parent = self.service.get(task.follow_up_of)
            same_kind = self.service.get_agent(parent.agent).kind == kind.name
        except NotFoundError:
            return None
        return _last_session(self.service, parent.id) if same_kind else None

    # -- the agent ------------------------------------------------------------------------------

    def _run_kind(
        self, task: Task, kind: AgentKind, config: dict[str, Any], ctx: TaskContext, ws: Workspace,
        env: dict[str, str], session: str | None,
    ) -> Any:
        payload = task.payload
        if isinstance(kind, CodingAgentKind):
            try:
                kind.validate_payload(payload)
            except TaskValidationError as exc:
                raise PermanentError(str(exc)) from None
            shared = str(common_dir(ws.path))
            writable = (shared,) if not shared.startswith(ws.path.rstrip(os.sep) + os.sep) else ()
            if session:
                ctx.log(f"resuming session {session}")
            return kind.execute(
                task, config, ctx, prompt=payload["prompt"], workdir=ws.path, session_id=session, extra_env=env,
                writable_dirs=writable,
            )
        facts = {"worktree": ws.path, "branch": ws.branch}
        if payload is None or isinstance(payload, dict):
            task = dataclasses.replace(task, payload={**(payload or {}), **facts})
        if isinstance(kind, CommandKind):
            config = {
                **config,
                "cwd": config.get("cwd") or _literal(ws.path),
                "env": {**(config.get("env") or {}), **{k: _literal(v) for k, v in env.items()}},
            }
        return kind.run(task, config, ctx)

    # -- after ----------------------------------------------------------------------------------

    def _finish(
        self, task: Task, repo: Repo, record: WorkspaceRecord, ws: Workspace, ctx: TaskContext, *, succeeded: bool
    ) -> dict[str, Any]:
        """Summarise what the run changed (committing leftovers and pushing only after a success),
        keep the patch and the summary; a failure here is a note, never the task's outcome."""
        prompt = _prompt_of(task)
        worktree = repo.mode == "worktree"
        try:
            summary = finish_workspace(
                ws,
                commit_message=commit_message(prompt) if succeeded and worktree and repo.commit_uncommitted else None,
                push=succeeded and repo.push,
                open_pr=succeeded and repo.open_pr,
                pr_title=commit_message(prompt).splitlines()[0],
                pr_body=f"{prompt}\n\n(Agent Queue task {task.id})",
                pr_base=repo.base_branch,
                gh=self.gh,
            )
            patch = self.folders.patches / f"task-{task.id}.patch"
            write_private_text(patch, summary.patch)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong here, the agent's outcome stands
            note = f"could not read what the task changed in {ws.path}: {exc}"
            log.warning("task %s: %s", task.id, note, exc_info=not isinstance(exc, AgentQueueError | OSError))
            ctx.log(note)
            return {"branch": ws.branch, "worktree": ws.path, "base_commit": ws.base_commit, "notes": [note]}
        changes = result_fields(summary, ws, patch)
        for note in summary.notes:
            ctx.log(note)
        ctx.log(
            f"changes: {summary.commits} commit(s), {len(summary.files)} file(s) +{summary.lines_added} "
            f"-{summary.lines_removed}{', uncommitted changes left' if summary.uncommitted else ''}"
            + (f", pull request {summary.pr_url}" if summary.pr_url else "")
        )
        try:
            self.service.workspaces.update(record.id, summary=changes)
        except AgentQueueError as exc:  # the database is busy or full: the result still has it
            log.warning("task %s: the change summary was not saved with its workspace: %s", task.id, exc)
        return changes


def result_fields(summary: ChangeSummary, ws: Workspace, patch: Path) -> dict[str, Any]:
    """What a task's result (and its workspace row) says about its changes."""
    files = [{"path": f.path, "added": f.added, "removed": f.removed} for f in summary.files[:FILES_IN_RESULT]]
    return {
        "branch": summary.branch, "worktree": ws.path, "base_commit": summary.base_commit,
        "head_commit": summary.head_commit, "commits": summary.commits, "files_changed": files,
        "files_total": len(summary.files), "lines_added": summary.lines_added, "lines_removed": summary.lines_removed,
        "uncommitted": summary.uncommitted, "committed": summary.committed, "pushed": summary.pushed,
        "pr_url": summary.pr_url, "patch_path": str(patch), "patch_bytes": summary.patch_bytes,
        "patch_truncated": summary.patch_truncated, "notes": list(summary.notes),
    }


def _workspace_of(record: WorkspaceRecord) -> Workspace:
    return Workspace(
        record.path, record.branch, record.base, record.base_commit or "", record.repo_path, record.created,
        record.copied,
    )


def _last_session(service: TaskQueueService, task_id: int) -> str | None:
    for attempt in reversed(service.attempts(task_id)):
        session = attempt.details.get("session_id")
        if isinstance(session, str) and session:
            return session
    return None


def _prompt_of(task: Task) -> str:
    """What the task asks, for its branch name and commit message."""
    payload = task.payload
    if isinstance(payload, dict) and isinstance(payload.get("prompt"), str) and payload["prompt"].strip():
        return str(payload["prompt"])
    return task.task_type or f"{task.agent} task"


def _literal(text: str) -> str:
    """`text` as a config template that fills to itself (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")
