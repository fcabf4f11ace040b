"""The worker roster: each worker pool's row, kept by its heartbeats.

A pool writes its row when it starts, at every heartbeat (its counts since it started and the
tasks it runs now) and when it stops cleanly. A worker not seen for three of its lease periods is
"gone": it died or hangs (its tasks' leases have expired by then and the rescuer puts them back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, or_, select, update

from desktop.queue.rows import Row, to_datetime
from desktop.queue.store import Store
from desktop.queue.tables import WK
from desktop.queue.types import Worker

GONE_AFTER_LEASES = 3  # a worker not seen for this many lease periods is gone
FORGET_AFTER_S = 86_400.0  # stopped or gone workers are listed for a day, then forgotten
LIVE, GONE, STOPPED = "live", "gone", "stopped"
_ORDER = {LIVE: 0, GONE: 1, STOPPED: 2}


@dataclass(frozen=True, slots=True)
class Beat:
    """What a worker pool reports about itself at a heartbeat."""

    worker_id: str
    host: str
    pid: int
    concurrency: int
    lease_s: float
    running: int = 0
    completed: int = 0
    failed: int = 0


class Roster:
    """Writing and reading the workers table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def beat(self, beat: Beat) -> None:
        """Record that the worker is alive now, with its counts (its row made at the first beat)."""
        now = self.store.clock()
        values = {
            "host": beat.host, "pid": beat.pid, "concurrency": beat.concurrency, "lease_s": beat.lease_s,
            "running": beat.running, "completed": beat.completed, "failed": beat.failed,
            "last_seen_at": now, "stopped_at": None,
        }
        with self.store.write() as conn:
            if not conn.execute(update(WK).where(WK.c.id == beat.worker_id).values(values)).rowcount:
                # Only this worker writes its row, so no one else inserts it meanwhile. A new
                # worker also forgets the ones that ended long ago.
                conn.execute(delete(WK).where(WK.c.last_seen_at < now - FORGET_AFTER_S))
                conn.execute(insert(WK).values(id=beat.worker_id, started_at=now, **values))

    def stopped(self, worker_id: str) -> None:
        """The worker stopped cleanly."""
        now = self.store.clock()
        with self.store.write() as conn:
            conn.execute(
                update(WK).where(WK.c.id == worker_id).values(stopped_at=now, last_seen_at=now, running=0)
            )

    def workers(self) -> list[Worker]:
        """Every worker seen in the last day: live, then gone, then stopped ones, each by id."""
        now = self.store.clock()
        with self.store.read() as conn:
            rows = conn.execute(
                select(WK).where(or_(WK.c.last_seen_at >= now - FORGET_AFTER_S, WK.c.stopped_at.is_(None)))
            ).all()
        found = [_worker(row._mapping, now) for row in rows]
        return sorted(found, key=lambda w: (_ORDER[w.state], w.id))

    def any_live(self) -> bool:
        return any(w.state == LIVE for w in self.workers())


def _worker(row: Row, now: float) -> Worker:
    last_seen = float(row["last_seen_at"])
    if row["stopped_at"] is not None:
        state = STOPPED
    elif now - last_seen > GONE_AFTER_LEASES * float(row["lease_s"]):
        state = GONE
    else:
        state = LIVE
    return Worker(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=datetime.fromtimestamp(row["started_at"], UTC),
        last_seen_at=datetime.fromtimestamp(last_seen, UTC),
        stopped_at=to_datetime(row["stopped_at"]),
        concurrency=row["concurrency"],
        running=row["running"] if state == LIVE else 0,
        completed=row["completed"],
        failed=row["failed"],
        state=state,
    )
