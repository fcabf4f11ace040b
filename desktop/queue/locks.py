"""Lock keys: at most `capacity` running tasks per key (1 unless set), enforced by the database.

A repository's lock key with capacity N lets N agents work on it at once (each in its own
worktree); capacity 1 is "one task at a time". The running counts are kept by triggers (see
models.LockKeyRow), so threads, processes and hosts sharing the database all obey them.
"""

from __future__ import annotations

from sqlalchemy import func, select

from desktop.queue import validation as check
from desktop.queue.rows import to_datetime
from desktop.queue.store import Store
from desktop.queue.tables import K, T
from desktop.queue.types import LockInfo, TaskStatus


class Locks:
    """Lock key capacities, and who holds each key now."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def set_lock_capacity(self, key: str, capacity: int) -> None:
        """Let at most `capacity` tasks with lock key `key` run at once.

        Lowering it below the number running now stops none of them: new claims wait until fewer
        than `capacity` run.
        """
        key = check.key("key", key) or ""
        capacity = check.concurrency(capacity, "capacity")
        with self.store.write() as conn:
            self.store.backend.set_lock_capacity(conn, key, capacity)
            self.store.notify(conn)  # a raised capacity may make tasks claimable

    def lock_capacity(self, key: str) -> int:
        """How many tasks with lock key `key` may run at once (1 unless set)."""
        with self.store.read() as conn:
            capacity = conn.execute(select(K.c.capacity).where(K.c.key == key)).scalar()
        return 1 if capacity is None else int(capacity)

    def locks(self) -> list[LockInfo]:
        """Lock keys held now: one entry per running task that has a lock key, oldest first,
        with its key's capacity."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    T.c.lock_key, T.c.id, T.c.agent, T.c.lease_owner, T.c.started_at, T.c.lease_expires_at,
                    func.coalesce(K.c.capacity, 1).label("capacity"),
                )
                .outerjoin(K, K.c.key == T.c.lock_key)
                .where(T.c.status == TaskStatus.RUNNING.value, T.c.lock_key.is_not(None))
                .order_by(T.c.started_at, T.c.id)
            ).all()
        return [
            LockInfo(
                r.lock_key, r.id, r.agent, r.lease_owner, to_datetime(r.started_at), to_datetime(r.lease_expires_at),
                int(r.capacity),
            )
            for r in rows
        ]
