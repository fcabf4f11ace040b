"""Task reads the window needs beyond TaskQueueService.list_tasks; call them on a read thread.

list_tasks pages newest first only. The history table also sorts by other columns, so this module
pages any sort order by keyset (``WHERE (key, id) < (:last_key, :last_id)``), fetches tasks by id
(to refresh the rows on screen) and finds tasks newer than the newest one shown. Filters use the
service's own filter, so counts and pages agree. No OFFSET anywhere: each page costs the same on
a table of a million rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal, select, tuple_

from desktop.queue import Task, TaskQueueService
from desktop.queue.models import TaskRow
from desktop.queue.rows import task_from_row

T = TaskRow.__table__

# Sort keys: NULL times sort as -1, so every key is comparable in a row value.
SORT_EXPRESSIONS: dict[str, Any] = {
    "id": T.c.id,
    "status": T.c.status,
    "agent": T.c.agent,
    "task_type": func.coalesce(T.c.task_type, ""),
    "priority": T.c.priority,
    "attempts": T.c.attempts,
    "created_at": T.c.created_at,
    "scheduled_for": T.c.scheduled_for,
    "started_at": func.coalesce(T.c.started_at, -1.0),
    "finished_at": func.coalesce(T.c.finished_at, -1.0),
}

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
    if order.column == "id" and order.descending:
        before = None if after is None else int(after[1])
        tasks = service.list_tasks(statuses, agent, search, limit=limit + 1, before_id=before)
        page = tasks[:limit]
        last = (page[-1].id, page[-1].id) if page else after
        return Page(page, last, len(tasks) <= limit)
    expr = SORT_EXPRESSIONS[order.column]
    query = TaskQueueService._filtered(  # the service's filter (see the report: make it public)
        select(T, expr.label("_sort_key")), statuses, agent, search
    )
    if after is not None:
        if order.column == "id":
            query = query.where(T.c.id < after[1] if order.descending else T.c.id > after[1])
        else:
            key = tuple_(expr, T.c.id)
            bound = tuple_(literal(after[0]), literal(after[1]))
            query = query.where(key < bound if order.descending else key > bound)
    if order.descending:
        query = query.order_by(expr.desc(), T.c.id.desc())
    else:
        query = query.order_by(expr.asc(), T.c.id.asc())
    with service.engine.begin() as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
    page_rows = rows[:limit]
    tasks = [task_from_row(r._mapping) for r in page_rows]
    last = (page_rows[-1]._mapping["_sort_key"], page_rows[-1].id) if page_rows else after
    return Page(tasks, last, len(rows) <= limit)


def tasks_by_id(service: TaskQueueService, ids: Iterable[int]) -> dict[int, Task]:
    """The tasks among `ids` that still exist, by id (refreshes the rows on screen)."""
    wanted = sorted(set(ids))
    found: dict[int, Task] = {}
    with service.engine.begin() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for row in conn.execute(select(T).where(T.c.id.in_(chunk))):
                task = task_from_row(row._mapping)
                found[task.id] = task
    return found
