"""Short names for the tables, for the service's SQLAlchemy Core statements."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from desktop.queue.models import (
    AgentRow,
    AttemptRow,
    AttemptTotalRow,
    DependencyRow,
    LockKeyRow,
    QueueStateRow,
    RepoRow,
    TaskCountRow,
    TaskRow,
    WorkerRow,
    WorkspaceRow,
)
from desktop.queue.types import FINISHED_STATUSES

T = cast(Table, TaskRow.__table__)
A = cast(Table, AttemptRow.__table__)
G = cast(Table, AgentRow.__table__)
D = cast(Table, DependencyRow.__table__)
S = cast(Table, QueueStateRow.__table__)
K = cast(Table, LockKeyRow.__table__)
C = cast(Table, TaskCountRow.__table__)
R = cast(Table, RepoRow.__table__)
W = cast(Table, WorkspaceRow.__table__)
L = cast(Table, AttemptTotalRow.__table__)  # the attempt ledger
WK = cast(Table, WorkerRow.__table__)

FINISHED = tuple(s.value for s in FINISHED_STATUSES)
