"""Task reads the window needs; call them on a read thread.

The history table sorts by any column, so pages come from the service's keyset reader
(TaskQueueService.page: ``WHERE (key, id) < (:last_key, :last_id)``, no OFFSET, so each page costs
the same on a table of a million rows), rows on screen are refreshed by id, and live updates are
matched against the same filter in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from desktop.queue import SORT_COLUMNS, Task, TaskQueueService

# The columns pages can be sorted by (the service's keyset reader orders by these).
SORT_EXPRESSIONS = SORT_COLUMNS

SortKey = tuple[Any, int]


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """What a task table shows: statuses (None: all), one agent (None: all), a text search."""

    statuses: tuple[str, ...] | None = None
    agent: str | None = None
    search: str | None = None

    def service_args(self) -> tuple[list[str] | None, str | None, str | None]:
        return (list(self.statuses) if self.statuses else None, self.agent or None, self.search or None)

    def matches(self, task: Task) -> bool:
        """The service's filter, applied to a task in memory (for live updates)."""
        if self.statuses and task.status.value not in self.statuses:
            return False
        if self.agent and task.agent != self.agent:
            return False
        if self.search:
            needle = self.search.lower()
            digits = self.search.strip().lstrip("#")
            if digits.isdigit() and task.id == int(digits):
                return True
            payload = json.dumps(task.payload, separators=(",", ":"), ensure_ascii=False)
            fields = (task.agent, task.task_type, task.lock_key, payload, task.last_error)
            return any(needle in (value or "").lower() for value in fields)
        return True


@dataclass(frozen=True, slots=True)
class SortOrder:
    column: str = "id"
    descending: bool = True


@dataclass(frozen=True, slots=True)
class Page:
    """One page of tasks and the key to ask for the next one after it (None when it was empty)."""

    tasks: list[Task]
    last_key: SortKey | None
    complete: bool  # no more rows after this page


def sort_key(task: Task, column: str) -> SortKey:
    """A task's sort key as the database compares it (times as epoch seconds, NULL as -1)."""
    value: Any
    if column == "id":
        value = task.id
    elif column in ("status",):
        value = task.status.value
    elif column in ("created_at", "scheduled_for", "started_at", "finished_at"):
        moment = getattr(task, column)
        value = -1.0 if moment is None else moment.timestamp()
    elif column == "task_type":
        value = task.task_type or ""
    else:
        value = getattr(task, column)
    return (value, task.id)


def fetch_page(
    service: TaskQueueService, flt: TaskFilter, order: SortOrder, after: SortKey | None, limit: int
) -> Page:
    """The `limit` tasks that come after `after` in `order` (the first page when `after` is None)."""
    statuses, agent, search = flt.service_args()
    page = service.page(
        statuses, agent, search, sort=order.column, descending=order.descending, after=after, limit=limit
    )
    return Page(page.tasks, page.last_key, page.complete)


def tasks_by_id(service: TaskQueueService, ids: Iterable[int]) -> dict[int, Task]:
    """The tasks among `ids` that still exist, by id (refreshes the rows on screen)."""
    return service.get_many(ids)
