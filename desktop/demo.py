"""First-run examples: a few agents and demo tasks, so a new user sees the queue work at once.

The demo shows priorities (5 runs first), a delayed task, a dependency, a failure that retries
with backoff and then fails for good, and a real command (`git status` in a git repository,
checked before anything is queued).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from desktop.errors import TaskValidationError
from desktop.queue import Agent, Task, TaskQueueService

ECHO, SLEEP, FLAKY, GIT = "echo", "sleep", "flaky", "git-status"


def create_example_agents(service: TaskQueueService, *, flaky_backoff_s: float = 5.0) -> list[Agent]:
    """Add the example agents that do not exist yet; returns the ones added.

    `git-status` runs `git status --short --branch` in the task's `repo` folder, one task per
    folder at a time. `flaky` fails on purpose and retries after `flaky_backoff_s`, then twice that.
    """
    existing = {agent.name for agent in service.list_agents()}
    wanted = [
        (ECHO, "echo", {}, {"concurrency": 2}),
        (SLEEP, "sleep", {}, {"concurrency": 2}),
        (FLAKY, "fail", {}, {"max_retries": 2, "retry_base_s": flaky_backoff_s}),
        (GIT, "command", {"argv": ["git", "status", "--short", "--branch"], "cwd": "{repo}"}, {}),
    ]
    added = []
    for name, kind, config, limits in wanted:
        if name not in existing:
            added.append(service.add_agent(name, kind, config, **limits))  # type: ignore[arg-type]
    return added


def check_git_repository(folder: Path) -> Path:
    """`folder`, resolved, if it is inside a git work tree; else TaskValidationError on field
    `repo` saying what is wrong (no such folder, not a repository, git missing)."""
    path = folder.expanduser().resolve()
    if not path.is_dir():
        raise TaskValidationError("repo", f"there is no folder {path}")
    git = shutil.which("git")
    if git is None:
        raise TaskValidationError("repo", "git is not installed, so the git example cannot run")
    found = subprocess.run(
        [git, "-C", str(path), "rev-parse", "--is-inside-work-tree"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if found.returncode != 0 or found.stdout.strip() != "true":
        raise TaskValidationError("repo", f"{path} is not in a git repository: choose a folder of a repository")
    return path


def enqueue_demo_tasks(service: TaskQueueService, repo_folder: Path | None = None) -> list[Task]:
    """Queue a handful of demo tasks (the example agents must exist). `git status` runs in
    `repo_folder`, which must be in a git repository (checked first: TaskValidationError and
    nothing queued if not); with None the git example is left out."""
    repo = None if repo_folder is None else str(check_git_repository(repo_folder))
    soon = datetime.now(UTC) + timedelta(minutes=1)
    git = [{"agent": GIT, "payload": {"repo": repo}, "lock_key": f"path:{repo}"}] if repo else []
    tasks = service.enqueue_many(
        [
            {"agent": ECHO, "payload": {"message": "low priority: runs last"}, "priority": 1},
            {"agent": ECHO, "payload": {"message": "high priority: runs first"}, "priority": 5},
            {"agent": SLEEP, "payload": {"seconds": 3}, "priority": 3},
            {"agent": SLEEP, "payload": {"seconds": 1}, "priority": 3},
            {"agent": ECHO, "payload": {"message": "scheduled a minute from now"}, "scheduled_for": soon},
            {"agent": FLAKY, "payload": {"message": "fails, retries twice, then fails for good"}},
            *git,
        ],
    )
    first_sleep = tasks[2]
    tasks.append(
        service.enqueue(ECHO, {"message": "waits for the 3 s sleep to finish"}, depends_on=[first_sleep.id])
    )
    return tasks
