"""Short names for the tables, for the service's SQLAlchemy Core statements."""

from __future__ import annotations

from desktop.queue.models import (
    AgentRow,
    AttemptRow,
    DependencyRow,
    LockKeyRow,
    QueueStateRow,
    TaskCountRow,
    TaskRow,
)
from desktop.queue.types import FINISHED_STATUSES

T = TaskRow.__table__
A = AttemptRow.__table__
G = AgentRow.__table__
D = DependencyRow.__table__
S = QueueStateRow.__table__
K = LockKeyRow.__table__
C = TaskCountRow.__table__

FINISHED = tuple(s.value for s in FINISHED_STATUSES)
