"""Recurring tasks: cron expressions in a time zone, fired exactly once per due time.

Firing happens inside one write transaction that enqueues the task and moves the schedule's
`next_fire_at` past now, with the schedule's row locked (SQLite's write lock; FOR UPDATE SKIP
LOCKED on PostgreSQL), so several workers calling fire_due_schedules at once still enqueue one
task per fire. Fire times missed while nothing ran (the app was closed) are run once, not once each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.models import ScheduleRow
from desktop.queue.rows import schedule_from_row
from desktop.queue.types import Agent, Schedule, Task

if TYPE_CHECKING:
    from desktop.queue.events import Signal

log = logging.getLogger(__name__)
SC = cast(Table, ScheduleRow.__table__)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TaskValidationError("timezone", f"unknown time zone {name!r} (use e.g. 'UTC' or 'Europe/Paris')") from exc


def check_cron(expression: str) -> str:
    """Return the expression if croniter accepts it; raise TaskValidationError('cron', ...) if not."""
    if not isinstance(expression, str) or not croniter.is_valid(expression.strip()):
        raise TaskValidationError(
            "cron",
            f"{expression!r} is not a valid cron expression (five fields: minute hour day month "
            "weekday, e.g. '*/15 * * * *' or '0 9 * * mon-fri')",
        )
    return expression.strip()


def next_fire(expression: str, timezone: str, after: float) -> float:
    """The first fire time strictly after `after` (epoch seconds), as epoch seconds."""
    start = datetime.fromtimestamp(after, zone(timezone))
    return croniter(expression, start).get_next(datetime).timestamp()


class ScheduleOps:
    """TaskQueueService's schedule operations (a mixin: it uses the service's transactions)."""

    if TYPE_CHECKING:  # provided by TaskQueueService
        clock: Callable[[], float]
        enqueued: Signal[list[Task]]

        def _write(self) -> AbstractContextManager[Connection]: ...
        def _read(self) -> AbstractContextManager[Connection]: ...
        def _insert_in(
            self, conn: Connection, items: Sequence[check.NewTask]
        ) -> tuple[list[Task], list[Task]]: ...
        def get_agent(self, name: str) -> Agent: ...

    def add_schedule(
        self,
        name: str,
        cron: str,
        agent: str,
        payload: Any = None,
        *,
        timezone: str = "UTC",
        priority: int = 3,
        lock_key: str | None = None,
        task_type: str | None = None,
        enabled: bool = True,
    ) -> Schedule:
        now = self.clock()
        values = {
            "name": check.agent_name(name),
            "cron": check_cron(cron),
            "timezone": zone(timezone).key,
            "agent": agent,
            "payload": check.json_text("payload", payload),
            "priority": check.priority_value("priority", priority),
            "lock_key": check.key("lock_key", lock_key),
            "task_type": check.label("task_type", task_type),
            "enabled": bool(enabled),
            "created_at": now,
        }
        values["next_fire_at"] = next_fire(values["cron"], values["timezone"], now)
        self.get_agent(agent)  # raises NotFoundError naming it
        try:
            with self._write() as conn:
                row = conn.execute(insert(SC).values(values).returning(*SC.c)).one()
        except IntegrityError as exc:
            raise TaskValidationError("name", f"a schedule named {name!r} already exists") from exc
        return schedule_from_row(row._mapping)

    def list_schedules(self) -> list[Schedule]:
        with self._read() as conn:
            rows = conn.execute(select(SC).order_by(SC.c.name)).all()
        return [schedule_from_row(r._mapping) for r in rows]

    def set_schedule_enabled(self, name: str, enabled: bool) -> Schedule:
        now = self.clock()
        with self._write() as conn:
            row = conn.execute(select(SC).where(SC.c.name == name).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"schedule: there is no schedule named {name!r}")
            values: dict[str, Any] = {"enabled": enabled}
            if enabled and not row.enabled:  # start afresh: no burst of missed fires
                values["next_fire_at"] = next_fire(row.cron, row.timezone, now)
            row = conn.execute(update(SC).where(SC.c.id == row.id).values(values).returning(*SC.c)).one()
        return schedule_from_row(row._mapping)

    def remove_schedule(self, name: str) -> None:
        with self._write() as conn:
            if not conn.execute(delete(SC).where(SC.c.name == name)).rowcount:
                raise NotFoundError(f"schedule: there is no schedule named {name!r}")

    def fire_due_schedules(self) -> list[Task]:
        """Enqueue one task for each enabled schedule that is due; returns the new tasks."""
        now = self.clock()
        with self._read() as conn:
            due = conn.execute(
                select(SC.c.id).where(SC.c.enabled.is_(True), SC.c.next_fire_at <= now).limit(1)
            ).first()
        if due is None:  # the common case costs one indexed read, no write lock
            return []
        fired: list[Task] = []
        with self._write() as conn:
            # On PostgreSQL, several workers run this at once: each takes the due schedules no one
            # else holds, and a schedule fired meanwhile no longer matches once its row is locked.
            rows = conn.execute(
                select(SC)
                .where(SC.c.enabled.is_(True), SC.c.next_fire_at <= now)
                .order_by(SC.c.id)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                item = check.new_task(
                    row.agent,
                    json.loads(row.payload),
                    priority=row.priority,
                    lock_key=row.lock_key,
                    task_type=row.task_type,
                    unique_key=f"schedule:{row.name}:{int(row.next_fire_at)}",
                    created_by=f"schedule:{row.name}",
                )
                try:
                    fired.extend(self._insert_in(conn, [item])[1])
                except TaskValidationError as exc:  # e.g. its agent was removed
                    log.error("schedule %s: could not enqueue its task: %s", row.name, exc)
                conn.execute(
                    update(SC)
                    .where(SC.c.id == row.id)
                    .values(last_fired_at=now, next_fire_at=next_fire(row.cron, row.timezone, now))
                )
        if fired:
            self.enqueued.send(fired)
        return fired
