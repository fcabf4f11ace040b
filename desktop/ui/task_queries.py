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
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, tuple_

from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.queue.models import TaskRow
from desktop.queue.rows import task_from_row, to_datetime

T = TaskRow.__table__
RUNNING_LIMIT = 1000  # more running tasks than this are not listed (the counts stay exact)
_JSON_GAPS = re.compile(r"([:,])\s+")
Series = Sequence[tuple[datetime, int, int]]

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


def search_variants(search: str) -> list[str]:
    """The search as typed and, if different, without the spaces after ':' and ','."""
    compact = _JSON_GAPS.sub(r"\1", search)
    return [search] if compact == search else [search, compact]


def filtered(query: Any, flt: TaskFilter) -> Any:
    """`query` restricted to the tasks `flt` shows: statuses, agent, and the text search over the
    id, agent, type, lock key, payload and last error (case-insensitive on both databases)."""
    if flt.statuses:
        query = query.where(T.c.status.in_([TaskStatus(s).value for s in flt.statuses]))
    if flt.agent:
        query = query.where(T.c.agent == flt.agent)
    if flt.search:
        patterns = [_like_pattern(variant) for variant in search_variants(flt.search)]
        terms: list[Any] = [column.ilike(patterns[0], escape="\\")
                            for column in (T.c.agent, T.c.task_type, T.c.lock_key, T.c.last_error)]
        terms += [T.c.payload.ilike(pattern, escape="\\") for pattern in patterns]
        number = flt.search.strip().lstrip("#")
        if number.isdigit() and int(number) < 2**31:  # ids are 32-bit integers on PostgreSQL
            terms.append(T.c.id == int(number))
        query = query.where(or_(*terms))
    return query


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def count_tasks(service: TaskQueueService, flt: TaskFilter) -> int:
    """How many tasks `flt` shows."""
    with service.engine.begin() as conn:
        return int(conn.execute(filtered(select(func.count()).select_from(T), flt)).scalar_one())


def fetch_page(
    service: TaskQueueService, flt: TaskFilter, order: SortOrder, after: SortKey | None, limit: int
) -> Page:
    """The `limit` tasks that come after `after` in `order` (the first page when `after` is None).

    The last page of an order is the first page of the reversed order (see `reversed_order`).
    """
    expr = SORT_EXPRESSIONS[order.column]
    query = filtered(select(T, expr.label("_sort_key")), flt)
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
    """(bucket start, completed, failed) for each bucket of `chart_range`, oldest first; the
    last bucket is the current one. Sums the service's per-minute series (one source of truth
    for what counts as completed or failed)."""
    if chart_range.bucket_s == 60.0:
        return service.throughput_series(chart_range.buckets)
    now = service.clock()
    size = chart_range.bucket_s
    first = (math.floor(now / size) - chart_range.buckets + 1) * size
    minutes = int((math.floor(now / 60) * 60 - first) // 60) + 1
    sums = [[0, 0] for _ in range(chart_range.buckets)]
    for start, done, failed in service.throughput_series(minutes):
        index = int((start.timestamp() - first) // size)
        if 0 <= index < chart_range.buckets:
            sums[index][0] += done
            sums[index][1] += failed
    return [(to_datetime(first + i * size), done, failed) for i, (done, failed) in enumerate(sums)]  # type: ignore[misc]


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
