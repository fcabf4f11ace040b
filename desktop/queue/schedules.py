"""Recurring tasks: cron expressions in a time zone. Firing them is the Scheduler's (maintenance.py)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.agents import Agents
from desktop.queue.models import ScheduleRow
from desktop.queue.rows import schedule_from_row
from desktop.queue.store import Store
from desktop.queue.types import Schedule

SC = cast(Table, ScheduleRow.__table__)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TaskValidationError("timezone", f"unknown time zone {name!r} (use e.g. 'UTC' or 'Europe/Paris')") from exc


def check_cron(expression: str) -> str:
    """Return the expression if croniter accepts it; raise TaskValidationError('cron', ...) if not."""
    if not isinstance(expression, str) or len(expression.split()) != 5 or not croniter.is_valid(expression.strip()):
        raise TaskValidationError(
            "cron",
            f"{expression!r} is not a valid cron expression (five fields: minute hour day month "
            "weekday, e.g. '*/15 * * * *' or '0 9 * * mon-fri')",
        )
    return expression.strip()


def next_fire(expression: str, timezone: str, after: float) -> float | None:
    """The first fire time strictly after `after` (epoch seconds), or None when there is none
    before the year 9999 (e.g. '0 0 30 2 *', the 30th of February)."""
    try:
        start = datetime.fromtimestamp(after, zone(timezone))
        fire = croniter(expression, start).get_next(datetime).timestamp()
    except (CroniterBadDateError, OverflowError, ValueError, OSError):
        return None
    return fire if math.isfinite(fire) and fire <= check.MAX_TIMESTAMP else None


class Schedules:
    """Defining, listing, enabling and removing schedules."""

    def __init__(self, store: Store, agents: Agents) -> None:
        self.store = store
        self.agents = agents

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
        now = self.store.clock()
        values: dict[str, Any] = {
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
        if values["next_fire_at"] is None:
            raise TaskValidationError("cron", f"{cron!r} never fires (no such date before the year 9999)")
        self.agents.get_agent(agent)  # raises NotFoundError naming it
        try:
            with self.store.write() as conn:
                row = conn.execute(insert(SC).values(values).returning(*SC.c)).one()
        except IntegrityError as exc:
            raise TaskValidationError("name", f"a schedule named {name!r} already exists") from exc
        return schedule_from_row(row._mapping)

    def list_schedules(self) -> list[Schedule]:
        with self.store.read() as conn:
            rows = conn.execute(select(SC).order_by(SC.c.name)).all()
        return [schedule_from_row(r._mapping) for r in rows]

    def set_schedule_enabled(self, name: str, enabled: bool) -> Schedule:
        now = self.store.clock()
        with self.store.write() as conn:
            row = conn.execute(select(SC).where(SC.c.name == name).with_for_update()).first()
            if row is None:
                raise NotFoundError(f"schedule: there is no schedule named {name!r}")
            values: dict[str, Any] = {"enabled": enabled}
            if enabled and not row.enabled:  # start afresh: no burst of missed fires
                fire = next_fire(str(row.cron), str(row.timezone), now)
                if fire is None:
                    raise TaskValidationError("cron", f"{row.cron!r} never fires again")
                values["next_fire_at"] = fire
            row = conn.execute(update(SC).where(SC.c.id == row.id).values(values).returning(*SC.c)).one()
        return schedule_from_row(row._mapping)

    def remove_schedule(self, name: str) -> None:
        with self.store.write() as conn:
            if not conn.execute(delete(SC).where(SC.c.name == name)).rowcount:
                raise NotFoundError(f"schedule: there is no schedule named {name!r}")
