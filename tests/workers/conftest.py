"""Fixtures for the worker pool: a real database, real pool threads, tiny delays."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from desktop.bootstrap import open_queue
from desktop.config import PROFILES, Settings
from desktop.queue import TaskQueueService
from desktop.workers.pool import WorkerPool
from tests.conftest import FakeClock

FAST = dataclasses.replace(
    PROFILES["test"], concurrency=2, retry_base_s=0.0, poll_interval_s=0.05, lease_s=5.0, shutdown_grace_s=1.0
)


@pytest.fixture
def settings() -> Settings:
    return FAST


@pytest.fixture
def queue(db_url: str, settings: Settings) -> Iterator[TaskQueueService]:
    service = open_queue(db_url, settings)
    yield service
    service.close()


@pytest.fixture
def clocked_queue(db_url: str, settings: Settings, clock: FakeClock) -> Iterator[TaskQueueService]:
    """The same database through a service whose clock the test moves (for ages, not sleeps)."""
    service = TaskQueueService.open(db_url, clock=clock, retry_policy=settings.retry_policy())
    yield service
    service.close()


@pytest.fixture
def make_pool(qapp: object, queue: TaskQueueService, settings: Settings, tmp_path) -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(service: TaskQueueService | None = None, **options: object) -> WorkerPool:
        """A pool on `service` (the `queue` fixture by default), its settings overridden by keyword."""
        chosen = dataclasses.replace(settings, **{k: options.pop(k) for k in list(options) if hasattr(settings, k)})
        pool = WorkerPool(service or queue, chosen, output_dir=tmp_path / "task-logs", **options)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop(grace_s=0)
