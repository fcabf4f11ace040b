"""Small helpers shared by the engine's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from desktop.queue import Claim, TaskQueueService


def at(epoch: float) -> datetime:
    """An epoch time from the fake clock as the aware datetime the service returns."""
    return datetime.fromtimestamp(epoch, UTC)


def claim(service: TaskQueueService, task_id: int, worker: str = "w1", **options: float) -> Claim:
    """Claim the next task and check that it is `task_id` and carries a lease."""
    claimed = service.dequeue(worker, **options)  # type: ignore[arg-type]
    assert claimed is not None and claimed.id == task_id
    assert claimed.token and claimed.task.lease_owner == worker
    return claimed


def token(claimed: Claim) -> str:
    return claimed.token
