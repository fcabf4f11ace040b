"""What the review tests share: a real git repository registered with the queue, the fake Claude
Code as the agent (a real subprocess that really edits and commits), and waiting for a task."""

from __future__ import annotations

import sys
from pathlib import Path

CODING_TESTS = Path(__file__).resolve().parents[1] / "coding"
if str(CODING_TESTS) not in sys.path:
    sys.path.insert(0, str(CODING_TESTS))

from gitrepos import FAKES, add_origin, git, git_identity, install_program, isolate_git, make_repo, repo  # noqa: E402

from desktop.queue import Task, TaskQueueService, TaskStatus  # noqa: E402
from desktop.workspaces.registration import register_repo  # noqa: E402
from desktop.workspaces.task_runs import clones_dir  # noqa: E402

FAKE_CLAUDE = [sys.executable, str(FAKES / "fake_claude.py")]

__all__ = [
    "FAKES", "FAKE_CLAUDE", "add_origin", "git", "git_identity", "install_program", "isolate_git", "make_repo", "repo",
    "setup_coder", "wait_status",
]


def setup_coder(queue: TaskQueueService, repo: Path, **repo_settings: object) -> None:
    """`repo` registered as "repo" and the agent "coder" running the fake Claude Code."""
    register_repo(queue, str(repo), clones_dir(), **repo_settings)
    queue.add_agent("coder", "claude", {"cli": FAKE_CLAUDE})


def wait_status(qtbot: object, queue: TaskQueueService, task_id: int, *statuses: TaskStatus,
                timeout: int = 30_000) -> Task:
    qtbot.waitUntil(lambda: queue.get(task_id).status in statuses, timeout=timeout)  # type: ignore[attr-defined]
    return queue.get(task_id)
