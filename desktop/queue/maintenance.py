"""The passes a worker pool runs now and then, each `run_once(now)`: no Qt, no timers of their own.

Rescuer: puts back tasks whose lease expired (their worker died or hung).
Cleaner: deletes finished tasks past a retention period.
Scheduler: enqueues the task of each due cron schedule, exactly once per fire time.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import Connection, delete, select, update

from desktop.errors import TaskValidationError
from desktop.queue import validation as check
from desktop.queue.archive import Archive
from desktop.queue.enqueue import Enqueuer
from desktop.queue.new_task import new_task
from desktop.queue.schedules import SC, next_fire
from desktop.queue.settling import AttemptEnd, Settler
from desktop.queue.store import Store
from desktop.queue.tables import FINISHED, K, T
from desktop.queue.types import Task, TaskStatus

log = logging.getLogger(__name__)


class Rescuer:
    """Recovers expired leases. Live leases are never touched."""

    def __init__(self, store: Store, settler: Settler) -> None:
        self.store = store
        self.settler = settler

    def run_once(self, now: float) -> list[int]:
        """Put back every task whose lease expired before `now`; returns their ids.

        Each counts as a failed attempt (outcome ``lost``): it is retried after the backoff, or
        fails for good when its retries are used up. A row that cannot be retried fails on its
        own: it never stops the others' recovery.
        """
        with self.store.write() as conn:
            rows = [
                dict(row._mapping)
                for row in conn.execute(
                    select(T)
                    .where(T.c.status == TaskStatus.RUNNING.value, T.c.lease_expires_at < now)
                    .order_by(T.c.id)
                    .with_for_update(skip_locked=True)  # being finished, or recovered by another worker
                )
            ]
            ends = []
            for row in rows:
                log.warning("task %s: lease of worker %s expired; putting it back", row["id"], row["lease_owner"])
                error = f"lease expired: worker {row['lease_owner']} stopped renewing it (crashed or hung)"
                ends.append((row, AttemptEnd("lost", error=error)))
            self.settler.settle(conn, ends, now)
        return [row["id"] for row in rows]


class Cleaner:
    """Deletes finished tasks (and their attempts) that finished more than `older_than_s` ago, in
    batches, each its own short transaction, so workers are never held up for long.

    With an `archive`, each batch is first written to it and flushed to disk, then deleted (see
    archive.py): a crash in between loses nothing, at worst archiving the batch twice.
    """

    def __init__(
        self, store: Store, older_than: timedelta | float, *, batch: int = 5_000, archive: Archive | None = None
    ) -> None:
        self.store = store
        self.older_than_s = check.age_seconds("older_than", older_than)
        self.batch = batch
        self.archive = archive

    def run_once(self, now: float) -> int:
        """Returns how many tasks were deleted."""
        cutoff = now - self.older_than_s
        deleted = 0
        while True:
            ids = None if self.archive is None else self._archived_batch(self.archive, cutoff, now)
            with self.store.write() as conn:
                if ids is None:
                    ids = self._batch(conn, cutoff)
                if not ids:
                    # Keys back at the defaults with nothing running are made again on first use.
                    conn.execute(delete(K).where(K.c.running == 0, K.c.capacity == 1))
                    return deleted
                # The status again: one may have been retried since the select.
                deleted += conn.execute(delete(T).where(T.c.id.in_(ids), T.c.status.in_(FINISHED))).rowcount

    def _batch(self, conn: Connection, cutoff: float) -> list[int]:
        query = select(T.c.id).where(T.c.finished_at < cutoff, T.c.status.in_(FINISHED)).order_by(T.c.finished_at)
        return list(conn.execute(query.limit(self.batch)).scalars())

    def _archived_batch(self, archive: Archive, cutoff: float, now: float) -> list[int]:
        """The next batch's ids, once their tasks are safely in the archive (read, then written
        outside any transaction: the write lock is not held while the file is flushed)."""
        with self.store.read() as conn:
            ids = self._batch(conn, cutoff)
            records = archive.records(conn, ids) if ids else []
        if records:
            archive.write(records, now)
        return ids


class Scheduler:
    """Fires due schedules.

    Firing happens inside one write transaction that enqueues the task and moves the schedule's
    `next_fire_at` past now, with the schedule's row locked (SQLite's write lock; FOR UPDATE SKIP
    LOCKED on PostgreSQL), so several workers firing at once still enqueue one task per fire.
    Fire times missed while nothing ran (the app was closed) are run once, not once each.
    """

    def __init__(self, store: Store, enqueuer: Enqueuer) -> None:
        self.store = store
        self.enqueuer = enqueuer

    def run_once(self, now: float) -> list[Task]:
        """Enqueue one task for each enabled schedule that is due; returns the new tasks."""
        with self.store.read() as conn:
            due = conn.execute(select(SC.c.id).where(SC.c.enabled.is_(True), SC.c.next_fire_at <= now).limit(1)).first()
        if due is None:  # the common case costs one indexed read, no write lock
            return []
        fired: list[Task] = []
        with self.store.write() as conn:
            rows = conn.execute(
                select(SC)
                .where(SC.c.enabled.is_(True), SC.c.next_fire_at <= now)
                .order_by(SC.c.id)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                try:
                    item = new_task(
                        {
                            "agent": row.agent, "payload": json.loads(row.payload), "priority": row.priority,
                            "lock_key": row.lock_key, "task_type": row.task_type,
                            "unique_key": f"schedule:{row.name}:{int(row.next_fire_at)}",
                            "created_by": f"schedule:{row.name}",
                        }
                    )
                    fired.extend(self.enqueuer.insert_in(conn, [item])[1])
                except TaskValidationError as exc:  # e.g. its agent was removed
                    log.error("schedule %s: could not enqueue its task: %s", row.name, exc)
                fire = next_fire(row.cron, row.timezone, now)
                values = {"last_fired_at": now, "next_fire_at": fire if fire is not None else row.next_fire_at}
                if fire is None:
                    log.error("schedule %s: %r never fires again; disabling it", row.name, row.cron)
                    values["enabled"] = False
                conn.execute(update(SC).where(SC.c.id == row.id).values(values))
        if fired:
            self.enqueuer.enqueued.send(fired)
        return fired
