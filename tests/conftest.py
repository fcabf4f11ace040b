"""Shared fixtures: every test gets a real SQLite file in its own temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.queue import RetryPolicy, TaskQueueService

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


class FakeClock:
    """A clock tests move by hand, so backoffs and leases need no sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the real user's data, log and config folders."""
    home = tmp_path_factory.mktemp("home")
    for name in ("AGENTQ_DATA_DIR", "AGENTQ_LOG_DIR", "AGENTQ_CONFIG_DIR"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv("AGENTQ_DATABASE_URL", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(db_url: str, clock: FakeClock) -> Iterator[TaskQueueService]:
    """A service on a fresh database file, with a fake clock and jitter-free retries."""
    svc = TaskQueueService.open(db_url, clock=clock, retry_policy=RetryPolicy(jitter=0.0))
    yield svc
    svc.close()
