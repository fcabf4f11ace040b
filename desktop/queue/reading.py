"""TaskQueueService's read-only operations: tasks, the action log, locks and statistics."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    func,
    or_,
    select,
    text,
)

from desktop.errors import NotFoundError
from desktop.queue.backends import Backend
from desktop.queue.models import READY
from desktop.queue.rows import attempt_from_row, task_from_row, to_datetime
from desktop.queue.tables import A, D, S, T
from desktop.queue.types import Attempt, LockInfo, QueueStats, Task, TaskStatus


class ReadOps:
    """Reading the queue; every call is one short read transaction."""

    if TYPE_CHECKING:  # provided by TaskQueueService
        clock: Callable[[], float]
        backend: Backend

        def _read(self) -> AbstractContextManager[Connection]: ...

    def get(self, task_id: int) -> Task:
        with self._read() as conn:
            return self._get(conn, task_id)

    @staticmethod
    def _get(conn: Connection, task_id: int) -> Task:
        row = conn.execute(select(T).where(T.c.id == task_id)).first()
        if row is None:
            raise NotFoundError(f"task {task_id} does not exist")
        return task_from_row(row._mapping)

    def peek(self, limit: int = 10) -> list[Task]:
        """The pending and retrying tasks in the order they would be claimed (ignoring pauses):
        the tasks due now first, then those scheduled for later or waiting out a backoff."""
        with self._read() as conn:
            rows = conn.execute(
                select(T)
                .where(text(READY))
                .order_by(T.c.scheduled_for > self.clock(), T.c.priority.desc(), T.c.scheduled_for, T.c.id)
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
        query = self._filtered(select(T), status, agent, search)
        if before_id is not None:
            query = query.where(T.c.id < before_id)
        query = query.order_by(T.c.id.desc()).offset(offset).limit(limit)
        with self._read() as conn:
            return [task_from_row(r._mapping) for r in conn.execute(query)]

    def count_tasks(
        self, status: str | Iterable[str] | None = None, agent: str | None = None, search: str | None = None
    ) -> int:
        with self._read() as conn:
            return conn.execute(self._filtered(select(func.count()).select_from(T), status, agent, search)).scalar_one()

    @staticmethod
    def _filtered(query: Any, status: str | Iterable[str] | None, agent: str | None, search: str | None) -> Any:
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            query = query.where(T.c.status.in_([TaskStatus(s).value for s in statuses]))
        if agent is not None:
            query = query.where(T.c.agent == agent)
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            columns = (T.c.agent, T.c.task_type, T.c.lock_key, T.c.payload, T.c.last_error)
            # ilike: case-insensitive on PostgreSQL too, as LIKE is on SQLite
            terms = [column.ilike(pattern, escape="\\") for column in columns]
            number = search.strip().lstrip("#")
            if number.isdigit() and int(number) < 2**31:  # ids are 32-bit integers on PostgreSQL
                terms.append(T.c.id == int(number))
            query = query.where(or_(*terms))
        return query

    def dependencies(self, task_id: int) -> list[int]:
        """Ids of the tasks `task_id` waits for."""
        with self._read() as conn:
            return list(conn.execute(select(D.c.depends_on_id).where(D.c.task_id == task_id)).scalars())

    def attempts(self, task_id: int) -> list[Attempt]:
        """The action log of a task, oldest attempt first."""
        with self._read() as conn:
            rows = conn.execute(select(A).where(A.c.task_id == task_id).order_by(A.c.number)).all()
        return [attempt_from_row(r._mapping) for r in rows]

    def throughput_series(self, minutes: int = 60) -> list[tuple[datetime, int, int]]:
        """Per minute over the last `minutes`: (minute start, completed, failed), oldest first."""
        now = self.clock()
        start = (int(now) // 60 - minutes + 1) * 60
        bucket = self.backend.minute_bucket(T.c.finished_at)
        with self._read() as conn:
            rows = conn.execute(
                select(
                    bucket,
                    func.sum(_case(T.c.status == TaskStatus.COMPLETED.value, 1)),
                    func.sum(_case(T.c.status == TaskStatus.FAILED.value, 1)),
                )
                .where(T.c.finished_at >= start)
                .group_by(bucket)
            ).all()
        counts = {int(minute): (int(done or 0), int(failed or 0)) for minute, done, failed in rows}
        series = []
        for minute in range(start // 60, start // 60 + minutes):
            done, failed = counts.get(minute, (0, 0))
            series.append((to_datetime(minute * 60.0), done, failed))  # type: ignore[arg-type]
        return series

    def attempt_totals(self) -> list[tuple[str, str, int, float]]:
        """(agent, outcome, attempts, total seconds) over the whole action log, for metrics."""
        with self._read() as conn:
            rows = conn.execute(
                select(T.c.agent, A.c.outcome, func.count(), func.coalesce(func.sum(A.c.duration_ms), 0))
                .join(T, T.c.id == A.c.task_id)
                .group_by(T.c.agent, A.c.outcome)
                .order_by(T.c.agent, A.c.outcome)
            ).all()
        return [(agent, outcome, count, total_ms / 1000) for agent, outcome, count, total_ms in rows]

    def locks(self) -> list[LockInfo]:
        """Lock keys held now: one per running task that has a lock key."""
        with self._read() as conn:
            rows = conn.execute(
                select(T.c.lock_key, T.c.id, T.c.agent, T.c.lease_owner, T.c.started_at, T.c.lease_expires_at)
                .where(T.c.status == TaskStatus.RUNNING.value, T.c.lock_key.is_not(None))
                .order_by(T.c.started_at)
            ).all()
        return [
            LockInfo(r.lock_key, r.id, r.agent, r.lease_owner, to_datetime(r.started_at), to_datetime(r.lease_expires_at))
            for r in rows
        ]

    def stats(self) -> QueueStats:
        """Counts by status and agent; wait, run time and success rate over the last hour."""
        now = self.clock()
        done = T.c.status == TaskStatus.COMPLETED.value
        ended = T.c.status.in_([TaskStatus.COMPLETED.value, TaskStatus.FAILED.value])
        with self._read() as conn:
            counts = conn.execute(
                select(T.c.status, T.c.agent, func.count()).group_by(T.c.status, T.c.agent)
            ).all()
            window = conn.execute(
                select(
                    func.sum(_case(done, 1)),
                    func.sum(_case(and_(done, T.c.finished_at >= now - 60), 1)),
                    func.sum(_case(ended, 1)),
                    func.avg(_case(ended, T.c.started_at - T.c.scheduled_for)),
                    func.avg(_case(ended, T.c.finished_at - T.c.started_at)),
                ).where(T.c.finished_at >= now - 3600)
            ).one()
            last = conn.execute(select(func.max(T.c.finished_at))).scalar()
            paused = conn.execute(select(S.c.value).where(S.c.key == "paused")).scalar() == "1"
        by_status = {s.value: 0 for s in TaskStatus}
        by_agent: dict[str, dict[str, int]] = {}
        for status, agent, count in counts:
            by_status[status] = by_status.get(status, 0) + count
            by_agent.setdefault(agent, {})[status] = count
        hour_done, minute_done, hour_ended, avg_wait, avg_run = window
        return QueueStats(
            by_status=by_status,
            by_agent=by_agent,
            avg_wait_s=None if avg_wait is None else max(0.0, float(avg_wait)),
            avg_run_s=None if avg_run is None else float(avg_run),
            success_rate=(hour_done or 0) / hour_ended if hour_ended else None,
            throughput_last_minute=int(minute_done or 0),
            throughput_last_hour=int(hour_done or 0),
            last_finished_at=to_datetime(last),
            paused=paused,
            total=sum(by_status.values()),
        )


def _case(condition: Any, value: Any) -> Any:
    return case((condition, value), else_=None)
