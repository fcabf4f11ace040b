"""The queue core: the service and the values it hands out. It imports nothing from Qt.

Callers outside the queue (the window, the CLI, the workers) use what this package exports.
"""

from desktop.errors import (
    DatabaseFileError,
    LeaseLostError,
    NotFoundError,
    TaskStateError,
    TaskValidationError,
)
from desktop.queue.lock_keys import repo_lock_key
from desktop.queue.new_task import TASK_FIELDS, TaskField
from desktop.queue.reads import SORT_COLUMNS
from desktop.queue.retry import RetryPolicy
from desktop.queue.roster import Beat
from desktop.queue.service import DEFAULT_LEASE_S, TaskQueueService
from desktop.queue.types import (
    Agent,
    Attempt,
    Claim,
    Ledger,
    LedgerLine,
    LockInfo,
    QueueStats,
    Repo,
    Settlement,
    Task,
    TaskPage,
    TaskStatus,
    Worker,
    WorkspaceRecord,
)

__all__ = [
    "DEFAULT_LEASE_S", "SORT_COLUMNS", "TASK_FIELDS", "Agent", "Attempt", "Beat", "Claim", "DatabaseFileError",
    "LeaseLostError", "Ledger", "LedgerLine", "LockInfo", "NotFoundError", "QueueStats", "Repo", "RetryPolicy",
    "Settlement", "Task", "TaskField", "TaskPage",
    "TaskQueueService", "TaskStateError", "TaskStatus", "TaskValidationError", "Worker", "WorkspaceRecord", "repo_lock_key",
]
