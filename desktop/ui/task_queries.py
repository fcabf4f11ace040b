"""Task reads the window needs beyond TaskQueueService.list_tasks; call them on a read thread.

list_tasks pages newest first only. The history table also sorts by other columns and jumps to
the end of the list, so this module pages any sort order, in either direction, by keyset
(``WHERE (key, id) < (:last_key, :last_id)``), counts with the same filter, fetches tasks by id
(to refresh the rows on screen), reads the running tasks for the window's snapshot and sums the
throughput into hours or six-hour buckets for the chart. No OFFSET anywhere: each page costs the
same on a table of a million rows.

The text search matches what the tables show: payloads are stored as compact JSON
(``{"n":12345}``) but shown with spaces (``{"n": 12345}``), so in payloads a search is also
tried with the spaces after ``:`` and ``,`` taken out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from desktop.queue import SORT_COLUMNS, Task, TaskQueueService, TaskStatus
from desktop.queue.reads import search_variants

RUNNING_LIMIT = 1000  # more running tasks than this are not listed (the counts stay exact)
Series = Sequence[tuple[datetime, int, int]]

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
        """The filter applied to a task in memory (for live updates), as the database applies it."""
        if self.statuses and task.status.value not in self.statuses:
            return False
        if self.agent and task.agent != self.agent:
            return False
        if self.search:
            digits = self.search.strip().lstrip("#")
            if digits.isdigit() and task.id == int(digits):
                return True
            payload = json.dumps(task.payload, separators=(",", ":"), ensure_ascii=False)
            needle = self.search.lower()
            fields = [(value or "").lower() for value in (task.agent, task.task_type, task.lock_key, task.last_error)]
            if any(needle in value for value in fields):
                return True
            return any(variant.lower() in payload.lower() for variant in search_variants(self.search))
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


def count_tasks(service: TaskQueueService, flt: TaskFilter) -> int:
    """How many tasks `flt` shows."""
    return service.count_tasks(*flt.service_args())


def fetch_page(
    service: TaskQueueService, flt: TaskFilter, order: SortOrder, after: SortKey | None, limit: int
) -> Page:
    """The `limit` tasks that come after `after` in `order` (the first page when `after` is None).

    The last page of an order is the first page of the reversed order (see `reversed_order`).
    """
    statuses, agent, search = flt.service_args()
    page = service.page(
        statuses, agent, search, sort=order.column, descending=order.descending, after=after, limit=limit
    )
    return Page(page.tasks, page.last_key, page.complete)


def reversed_order(order: SortOrder) -> SortOrder:
    return SortOrder(order.column, not order.descending)


def running_tasks(service: TaskQueueService) -> list[Task]:
    """The running tasks, newest first (at most RUNNING_LIMIT)."""
    return fetch_page(service, TaskFilter((TaskStatus.RUNNING.value,)), SortOrder(), None, RUNNING_LIMIT).tasks


@dataclass(frozen=True, slots=True)
class ChartRange:
    """A time range of the throughput chart: `buckets` bars of `bucket_s` seconds each; the x
    axis counts in `unit_s`. A series of a long range changes slowly: it is read again only at
    every `every`-th snapshot."""

    key: str
    title: str
    description: str
    bucket_s: float
    buckets: int
    unit_s: float
    unit_label: str
    every: int


CHART_RANGES = {
    r.key: r
    for r in (
        ChartRange("hour", "1 h", "hour, per minute", 60.0, 60, 60.0, "minutes ago", 1),
        ChartRange("day", "24 h", "24 hours, per hour", 3600.0, 24, 3600.0, "hours ago", 5),
        ChartRange("week", "7 d", "7 days, per six hours", 21_600.0, 28, 86_400.0, "days ago", 15),
    )
}


def throughput(service: TaskQueueService, chart_range: ChartRange) -> list[tuple[datetime, int, int]]:
    """(bucket start, succeeded, failed attempts) for each bucket of `chart_range`, oldest first;
    the last bucket is the current one. Counted from attempts (a retry keeps its failure)."""
    return service.throughput(chart_range.bucket_s, chart_range.buckets)


def tasks_and_waits(
    service: TaskQueueService, ids: Iterable[int], *, waits: bool
) -> tuple[dict[int, Task], dict[int, str]]:
    """The tasks among `ids` that still exist, and (with `waits`) why the waiting ones wait."""
    found = service.get_many(ids)
    return found, service.wait_reasons(found.values()) if waits else {}
