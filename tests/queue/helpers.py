"""Small helpers shared by the engine's tests."""

from __future__ import annotations

from datetime import UTC, datetime

from desktop.queue import Task, TaskQueueService


def at(epoch: float) -> datetime:
    """An epoch time from the fake clock as the aware datetime the service returns."""
    return datetime.fromtimestamp(epoch, UTC)


def claim(service: TaskQueueService, task_id: int, worker: str = "w1", **options: float) -> Task:
    """Claim the next task and check that it is `task_id` and carries a lease."""
    task = service.dequeue(worker, **options)  # type: ignore[arg-type]
    assert task is not None and task.id == task_id
    assert task.lease_token is not None
    return task


def token(task: Task) -> str:
    assert task.lease_token is not None
    return task.lease_token
