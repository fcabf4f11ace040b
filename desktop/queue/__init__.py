"""The queue core: models, the service, the retry policy. It imports nothing from Qt."""

from desktop.errors import (
    DatabaseFileError,
    LeaseLostError,
    NotFoundError,
    TaskStateError,
    TaskValidationError,
)
from desktop.queue.lock_keys import repo_lock_key
from desktop.queue.retry import RetryPolicy
from desktop.queue.service import DEFAULT_LEASE_S, TaskQueueService
from desktop.queue.types import Agent, Attempt, LockInfo, QueueStats, Task, TaskStatus

__all__ = [
    "DEFAULT_LEASE_S", "Agent", "Attempt", "DatabaseFileError", "LeaseLostError", "LockInfo",
    "NotFoundError", "QueueStats", "RetryPolicy", "Task", "TaskQueueService", "TaskStateError",
    "TaskStatus", "TaskValidationError", "repo_lock_key",
]
