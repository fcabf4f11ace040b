"""The attempt ledger read back: counts that a retry never erases and cleanup never lowers.

`attempt_totals` (kept by a trigger on task_attempts, see models.AttemptTotalRow) holds, per
hour, agent, repository and outcome, how many attempts ended and what they took. Totals over all
time, /metrics counters and the day and week charts read it; the last hour's per-minute chart and
rates read the attempts themselves (kept far longer than an hour), through their end-time index.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from desktop.queue.backends import HOUR_S
from desktop.queue.store import Store
from desktop.queue.tables import A, L

SUCCEEDED = ("completed",)
FAILED = ("failed", "lost")  # an attempt that raised, timed out, or whose worker died
Series = list[tuple[datetime, int, int]]


def outcome_totals(conn: Connection) -> tuple[dict[str, int], float | None]:
    """Attempts by outcome over all time, and when the last one ended (epoch seconds)."""
    rows = conn.execute(select(L.c.outcome, func.sum(L.c.attempts)).group_by(L.c.outcome)).all()
    last = conn.execute(select(func.max(L.c.last_at))).scalar()
    return {outcome: int(count) for outcome, count in rows}, last


def recent_outcomes(conn: Connection, since: float) -> dict[str, int]:
    """Attempts by outcome that ended at or after `since` (from the attempts: exact times)."""
    rows = conn.execute(
        select(A.c.outcome, func.count()).where(A.c.finished_at >= since).group_by(A.c.outcome)
    ).all()
    return {outcome: int(count) for outcome, count in rows}


def totals_by_agent(store: Store) -> list[tuple[str, str, int, float]]:
    """(agent, outcome, attempts, total seconds) over all time, for metrics: never decreasing."""
    with store.read() as conn:
        rows = conn.execute(
            select(L.c.agent, L.c.outcome, func.sum(L.c.attempts), func.sum(L.c.duration_ms))
            .group_by(L.c.agent, L.c.outcome)
            .order_by(L.c.agent, L.c.outcome)
        ).all()
    return [(agent, outcome, int(count), int(total_ms) / 1000) for agent, outcome, count, total_ms in rows]


def series(store: Store, bucket_s: float, buckets: int) -> Series:
    """(bucket start, succeeded, failed) attempts for each of the last `buckets` buckets of
    `bucket_s` seconds, oldest first, the last being the current one. Buckets under an hour are
    counted from the attempts, per minute; longer ones from the hourly totals."""
    now = store.clock()
    first = (math.floor(now / bucket_s) - buckets + 1) * bucket_s
    sums = [[0, 0] for _ in range(buckets)]
    with store.read() as conn:
        for start, done, failed in _per_minute(store, conn, first) if bucket_s < HOUR_S else _per_hour(conn, first):
            index = int((start - first) // bucket_s)
            if 0 <= index < buckets:
                sums[index][0] += done
                sums[index][1] += failed
    return [(datetime.fromtimestamp(first + i * bucket_s, UTC), done, failed) for i, (done, failed) in enumerate(sums)]


def _counts(outcome: Any, count: Any) -> tuple[Any, Any]:
    return (
        func.sum(case((outcome.in_(SUCCEEDED), count), else_=0)),
        func.sum(case((outcome.in_(FAILED), count), else_=0)),
    )


def _per_minute(store: Store, conn: Connection, start: float) -> list[tuple[float, int, int]]:
    bucket = store.backend.minute_bucket(A.c.finished_at)
    rows = conn.execute(select(bucket, *_counts(A.c.outcome, 1)).where(A.c.finished_at >= start).group_by(bucket))
    return [(float(minute) * 60, int(done or 0), int(failed or 0)) for minute, done, failed in rows]


def _per_hour(conn: Connection, start: float) -> list[tuple[float, int, int]]:
    hour_start = math.floor(start / HOUR_S) * HOUR_S
    rows = conn.execute(
        select(L.c.bucket, *_counts(L.c.outcome, L.c.attempts)).where(L.c.bucket >= hour_start).group_by(L.c.bucket)
    )
    return [(float(bucket), int(done or 0), int(failed or 0)) for bucket, done, failed in rows]
