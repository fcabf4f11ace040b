"""Fixtures for the coding-agent tests: git configured for the test only, real repositories."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.bootstrap import open_queue
from desktop.config import PROFILES
from desktop.queue import TaskQueueService
from desktop.workers.pool import WorkerPool

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # gitrepos lives next to the tests
    sys.path.insert(0, str(HERE))
AGENT_TESTS = HERE.parent / "agents"
if str(AGENT_TESTS) not in sys.path:  # agent_helpers: real Task values and contexts
    sys.path.insert(0, str(AGENT_TESTS))

from gitrepos import add_origin, git, git_identity, repo  # noqa: E402

__all__ = ["git_identity", "repo"]  # fixtures shared with the window's tests (tests/ui/conftest.py)


@pytest.fixture(autouse=True)
def _git_identity(git_identity: None) -> None:
    """Every coding test runs git with its own config."""


@pytest.fixture
def remote(tmp_path: Path, repo: Path) -> Path:
    """A bare repository as `repo`'s origin, with main pushed."""
    bare = add_origin(repo, tmp_path / "remote.git")
    git(repo, "push", "-q", "-u", "origin", "main")
    return bare


@pytest.fixture
def worktrees_dir(tmp_path: Path) -> Path:
    return tmp_path / "worktrees"


# -- a real worker pool running repository tasks ------------------------------------------------

FAST = dataclasses.replace(
    PROFILES["test"], concurrency=2, retry_base_s=0.0, poll_interval_s=0.05, lease_s=5.0, shutdown_grace_s=1.0
)


@pytest.fixture
def queue(db_url: str) -> Iterator[TaskQueueService]:
    service = open_queue(db_url, FAST)
    yield service
    service.close()


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the fake agents write one JSON line per run (argv, cwd, AGENTQ_* and PORT)."""
    log = tmp_path / "agent-runs.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    return log


@pytest.fixture
def start_pool(qapp: object, queue: TaskQueueService, tmp_path: Path) -> Iterator[Callable[..., WorkerPool]]:
    """Start a real pool (threads, subprocesses) on the queue; settings overridden by keyword."""
    pools: list[WorkerPool] = []

    def start(**options: Any) -> WorkerPool:
        settings = dataclasses.replace(FAST, **options)
        pool = WorkerPool(queue, settings, output_dir=tmp_path / "task-logs")
        pools.append(pool)
        pool.start()
        return pool

    yield start
    for pool in pools:
        pool.stop(grace_s=0)
