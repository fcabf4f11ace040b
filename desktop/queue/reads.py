"""Reading the queue: tasks (one, many, keyset pages), the action log, statistics and charts.

Every call is one short read transaction; nothing here writes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, literal, or_, select, text, tuple_

from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import totals
from desktop.queue import validation as check
from desktop.queue.backends import STATUSES
from desktop.queue.models import NOT_RUNNING, READY
from desktop.queue.rows import attempt_from_row, running_attempt, task_from_row, to_datetime
from desktop.queue.store import Store
from desktop.queue.tables import A, C, D, S, T
from desktop.queue.types import Attempt, QueueStats, Task, TaskPage, TaskStatus

# What a page can be sorted by. NULL times sort as -1, so every key is comparable in a row value:
# a page's last_key is (this value, id), as epoch seconds for times.
SORT_KEYS: dict[str, Any] = {
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
SORT_COLUMNS = frozenset(SORT_KEYS)
GET_MANY_CHUNK = 500


_JSON_GAPS = re.compile(r"([:,])\s+")


class Reads:
    """Read-only queries for the window, the CLI and metrics."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, task_id: int) -> Task:
        with self.store.read() as conn:
            return get_task(conn, task_id)

    def get_many(self, ids: Iterable[int]) -> dict[int, Task]:
        """The tasks among `ids` that exist, by id (e.g. to refresh the rows on screen)."""
        wanted = sorted(set(ids))
        found: dict[int, Task] = {}
        with self.store.read() as conn:
            for start in range(0, len(wanted), GET_MANY_CHUNK):
                for row in conn.execute(select(T).where(T.c.id.in_(wanted[start:start + GET_MANY_CHUNK]))):
                    task = task_from_row(row._mapping)
                    found[task.id] = task
        return found

    def peek(self, limit: int = 10) -> list[Task]:
        """The pending and retrying tasks in the order they would be claimed (ignoring pauses):
        the tasks due now first, then those scheduled for later or waiting out a backoff."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(T)
                .where(text(READY))
                .order_by(T.c.scheduled_for > self.store.clock(), T.c.priority.desc(), T.c.sort_order, T.c.scheduled_for, T.c.id)
                .limit(limit)
            ).all()
        return [task_from_row(r._mapping) for r in rows]

    def list_tasks(
        self,
        status: str | Iterable[str] | None = None,
        agent: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 100,
        *,
        before_id: int | None = None,
    ) -> list[Task]:
        """Tasks, newest first, filtered by status(es), agent and a text search.

        `search` matches the id, agent, task type, lock key, payload and last error. Page with
        `offset`, or faster on large tables with `before_id` (the last id of the previous page).
        """
        query = filtered(select(T), status, agent, search)
        if before_id is not None:
            query = query.where(T.c.id < before_id)
        query = query.order_by(T.c.id.desc()).offset(offset).limit(limit)
        with self.store.read() as conn:
            return [task_from_row(r._mapping) for r in conn.execute(query)]

    def count_tasks(
        self, status: str | Iterable[str] | None = None, agent: str | None = None, search: str | None = None
    ) -> int:
        with self.store.read() as conn:
            count = conn.execute(filtered(select(func.count()).select_from(T), status, agent, search)).scalar_one()
        return int(count)

    def page(
        self,
        status: str | Iterable[str] | None = None,
        agent: str | None = None,
        search: str | None = None,
        *,
        sort: str = "id",
        descending: bool = True,
        after: tuple[Any, int] | None = None,
        limit: int = 100,
    ) -> TaskPage:
        """The `limit` tasks that come after the key `after` in the order `sort` (one of
        SORT_COLUMNS, ties broken by id), filtered as list_tasks is; the first page when `after`
        is None. Keyset paging (``WHERE (key, id) < (:key, :id)``): each page costs the same on a
        table of a million rows."""
        if sort not in SORT_KEYS:
            raise TaskValidationError("sort", f"must be one of {', '.join(sorted(SORT_KEYS))}")
        key = SORT_KEYS[sort]
        query = filtered(select(T, key.label("_sort_key")), status, agent, search)
        if after is not None:
            if sort == "id":
                query = query.where(T.c.id < after[1] if descending else T.c.id > after[1])
            else:
                row_key, bound = tuple_(key, T.c.id), tuple_(literal(after[0]), literal(after[1]))
                query = query.where(row_key < bound if descending else row_key > bound)
        query = query.order_by(key.desc(), T.c.id.desc()) if descending else query.order_by(key.asc(), T.c.id.asc())
        with self.store.read() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
        shown = rows[:limit]
        last = (shown[-1]._mapping["_sort_key"], shown[-1].id) if shown else after
        return TaskPage([task_from_row(r._mapping) for r in shown], last, len(rows) <= limit)

    def dependencies(self, task_id: int) -> list[int]:
        """Ids of the tasks `task_id` waits for."""
        with self.store.read() as conn:
            return list(conn.execute(select(D.c.depends_on_id).where(D.c.task_id == task_id)).scalars())

    def attempts(self, task_id: int) -> list[Attempt]:
        """The action log of a task, oldest attempt first; a running task's current attempt,
        which lives on its row until it ends, comes last with outcome ``running``."""
        with self.store.read() as conn:
            rows = conn.execute(select(A).where(A.c.task_id == task_id).order_by(A.c.number)).all()
            task = conn.execute(select(T).where(T.c.id == task_id, T.c.status == TaskStatus.RUNNING.value)).first()
        attempts = [attempt_from_row(r._mapping) for r in rows]
        if task is not None:
            attempts.append(running_attempt(task._mapping, (attempts[-1].number if attempts else 0) + 1))
        return attempts

    def throughput_series(self, minutes: int = 60) -> list[tuple[datetime, int, int]]:
        """Per minute over the last `minutes`: (minute start, succeeded, failed attempts), oldest first."""
        return totals.series(self.store, 60.0, minutes)

    def stats(self) -> QueueStats:
        """Counts by status and agent (kept by the database, so free at any size), attempts by
        outcome over all time (the attempt ledger, as free); wait and run time of the tasks
        finished in the last hour, success rate and throughput of its attempts."""
        now = self.store.clock()
        ended = T.c.status.in_([TaskStatus.COMPLETED.value, TaskStatus.FAILED.value])
        with self.store.read() as conn:
            counts = [
                (status, row.agent, row._mapping[status])
                for row in conn.execute(select(C))
                for status in STATUSES
                if row._mapping[status]
            ]
            counts += backlogged_counts(conn)
            avg_wait, avg_run = conn.execute(
                select(
                    func.avg(_case(ended, T.c.started_at - T.c.scheduled_for)),
                    func.avg(_case(ended, T.c.finished_at - T.c.started_at)),
                ).where(T.c.finished_at >= now - 3600)
            ).one()
            attempts, last = totals.outcome_totals(conn)
            hour = totals.recent_outcomes(conn, now - 3600)
            minute = totals.recent_outcomes(conn, now - 60)
            paused = conn.execute(select(S.c.value).where(S.c.key == "paused")).scalar() == "1"
        by_status = {s.value: 0 for s in TaskStatus}
        by_agent: dict[str, dict[str, int]] = {}
        for status, agent, count in counts:
            by_status[status] = by_status.get(status, 0) + count
            by_agent.setdefault(agent, {})[status] = count
        hour_done = sum(hour.get(o, 0) for o in totals.SUCCEEDED)
        hour_ended = hour_done + sum(hour.get(o, 0) for o in totals.FAILED)
        return QueueStats(
            by_status=by_status,
            by_agent=by_agent,
            avg_wait_s=None if avg_wait is None else max(0.0, float(avg_wait)),
            avg_run_s=None if avg_run is None else float(avg_run),
            success_rate=hour_done / hour_ended if hour_ended else None,
            throughput_last_minute=sum(minute.get(o, 0) for o in totals.SUCCEEDED),
            throughput_last_hour=hour_done,
            last_finished_at=to_datetime(last),
            paused=paused,
            total=sum(by_status.values()),
            attempts=attempts,
        )


def backlogged_counts(conn: Connection, agents: Iterable[str] | None = None) -> list[tuple[str, str, int]]:
    """("backlogged", agent, count) per agent with backlogged tasks. task_counts keeps the other
    statuses; the backlog is counted here, from ix_tasks_status_id (it is rarely long). Counted
    here, not by a GROUP BY: for that, a SQLite planner with statistics (after ANALYZE) walks
    ix_tasks_agent_id, every row of the table, for its order (90 ms at 1,000,000 finished rows)."""
    query = select(T.c.agent).where(T.c.status == TaskStatus.BACKLOGGED.value, text(NOT_RUNNING))
    if agents is not None:
        query = query.where(T.c.agent.in_(list(agents)))
    counts = Counter(conn.execute(query).scalars())
    return [(TaskStatus.BACKLOGGED.value, agent, count) for agent, count in sorted(counts.items())]


def get_task(conn: Connection, task_id: int) -> Task:
    row = conn.execute(select(T).where(T.c.id == task_id)).first()
    if row is None:
        raise NotFoundError(f"task {task_id} does not exist")
    return task_from_row(row._mapping)


def filtered(query: Any, status: str | Iterable[str] | None, agent: str | None, search: str | None) -> Any:
    """`query` narrowed to tasks of these statuses and agent whose id, agent, task type, lock key,
    payload or last error matches `search` (a case-insensitive substring, or an id)."""
    if status is not None:
        statuses = {TaskStatus(s).value for s in ([status] if isinstance(status, str) else status)}
        query = query.where(T.c.status.in_(sorted(statuses)))
        if TaskStatus.RUNNING.value not in statuses:
            query = query.where(text(NOT_RUNNING))  # lets ix_tasks_status_id serve it
    if agent is not None:
        query = query.where(T.c.agent == agent)
    if search:
        patterns = [_like_pattern(variant) for variant in search_variants(search)]
        columns = (T.c.agent, T.c.task_type, T.c.lock_key, T.c.last_error)
        # ilike: case-insensitive on PostgreSQL too, as LIKE is on SQLite
        terms: list[ColumnElement[bool]] = [column.ilike(patterns[0], escape="\\") for column in columns]
        terms += [T.c.payload.ilike(pattern, escape="\\") for pattern in patterns]
        number = search.strip().lstrip("#")
        if number.isdigit() and int(number) <= check.MAX_TASK_ID:
            terms.append(T.c.id == int(number))
        query = query.where(or_(*terms))
    return query


def search_variants(search: str) -> list[str]:
    """The search as typed and, if different, without the spaces after ':' and ',': payloads are
    stored as compact JSON (``{"n":12345}``) but shown with spaces (``{"n": 12345}``)."""
    compact = _JSON_GAPS.sub(r"\1", search)
    return [search] if compact == search else [search, compact]


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _case(condition: Any, value: Any) -> Any:
    return case((condition, value), else_=None)
