"""Queue engine benchmark: prints throughput and latency figures, and ratios to bare sqlite3.

Run: `make bench` or `.venv/bin/python benchmarks/engine.py [--big-rows 1000000]`.
Each figure comes with the same work done through `sqlite3` directly (the same SQL, no ORM, no
service), because this machine's absolute speed varies; the ratios are what to compare.
Targets: enqueue_many >= 30,000 tasks/s; claim+complete >= 2,000 tasks/s on one thread and >= half
the bare loop's rate; claim latency at 1,000,000 finished rows within 1.5x of that at 1,000.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from desktop.queue import TaskQueueService
from desktop.queue.queries import SQLITE

def fresh(folder: Path, name: str) -> TaskQueueService:
    service = TaskQueueService.open(f"sqlite:///{folder / name}")
    service.add_agent("noop", "echo", concurrency=1000)
    return service


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def bench_enqueue(folder: Path, count: int) -> tuple[float, float]:
    one = fresh(folder, "enqueue-one.db")
    start = time.perf_counter()
    for i in range(count):
        one.enqueue("noop", {"n": i})
    single = rate(count, time.perf_counter() - start)
    one.close()
    many = fresh(folder, "enqueue-many.db")
    batch = [{"agent": "noop", "payload": {"n": i}} for i in range(10_000)]
    start = time.perf_counter()
    for _ in range(5):
        many.enqueue_many(batch)
    bulk = rate(50_000, time.perf_counter() - start)
    many.close()
    return single, bulk


def drain(service: TaskQueueService, worker: str, counts: list[int]) -> None:
    done = 0
    while (task := service.dequeue(worker)) is not None:
        service.complete(task.id, task.lease_token)
        done += 1
    counts.append(done)


def bench_claim_complete(folder: Path, count: int, threads: int) -> float:
    service = fresh(folder, f"claim-{threads}.db")
    service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(count)])
    counts: list[int] = []
    workers = [threading.Thread(target=drain, args=(service, f"w{i}", counts)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    assert sum(counts) == count, counts
    service.close()
    return rate(count, elapsed)


def bare_claim_complete(folder: Path, count: int) -> float:
    """The same statements through sqlite3 directly: the storage's own limit on this machine."""
    service = fresh(folder, "bare.db")
    service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(count)])
    service.close()
    conn = sqlite3.connect(folder / "bare.db", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        conn.execute(f"PRAGMA {pragma}")
    done = 0
    start = time.perf_counter()
    while True:
        now = time.time()
        token = secrets.token_hex(16)
        conn.execute("BEGIN IMMEDIATE")
        claim = {"now": now, "worker": "bare", "token": token, "expires": now + 60, "agents": None, "types": None}
        row = conn.execute(SQLITE["claim"], claim).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        conn.execute(SQLITE["new_attempt"], {"task_id": row[0], "worker": "bare", "now": now})
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        now = time.time()
        conn.execute(SQLITE["complete"], {"id": row[0], "token": token, "now": now, "result": "null"}).fetchone()
        end = {"task_id": row[0], "now": now, "outcome": "completed", "error": None, "traceback": None, "output_tail": None}
        conn.execute(SQLITE["end_attempt"], end)
        conn.execute(SQLITE["unblock"], {"done": row[0]})
        conn.execute("COMMIT")
        done += 1
    elapsed = time.perf_counter() - start
    conn.close()
    assert done == count
    return rate(count, elapsed)


def add_finished_rows(path: Path, count: int) -> None:
    """Fill a queue with `count` completed tasks quickly, through sqlite3."""
    conn = sqlite3.connect(path)
    now = time.time() - 86_400
    rows = (
        ("noop", '{"n":1}', 3, "completed", now, now, now, now, 1, 3, 60.0, 3600.0, 100, 0)
        for _ in range(count)
    )
    conn.executemany(
        "INSERT INTO tasks (agent, payload, priority, status, scheduled_for, created_at, started_at, "
        "finished_at, attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def claim_latency_ms(folder: Path, finished_rows: int, samples: int = 500) -> float:
    name = f"latency-{finished_rows}.db"
    fresh(folder, name).close()
    add_finished_rows(folder / name, finished_rows)
    service = TaskQueueService.open(f"sqlite:///{folder / name}")
    service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(samples)])
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        task = service.dequeue("w")
        times.append(time.perf_counter() - start)
        assert task is not None
        service.complete(task.id, task.lease_token)
    service.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5_000, help="tasks per throughput run")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="finished rows for the latency run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentq-bench-") as tmp:
        folder = Path(tmp)
        single, bulk = bench_enqueue(folder, args.tasks // 2)
        bare = bare_claim_complete(folder, args.tasks)
        one = bench_claim_complete(folder, args.tasks, 1)
        two = bench_claim_complete(folder, args.tasks, 2)
        small = claim_latency_ms(folder, 1_000)
        big = claim_latency_ms(folder, args.big_rows)
    print(f"sqlite {sqlite3.sqlite_version}")
    print(f"enqueue, one at a time          {single:10,.0f} tasks/s")
    print(f"enqueue_many (batches of 10k)   {bulk:10,.0f} tasks/s   target >= 30,000")
    print(f"bare sqlite3 claim+complete     {bare:10,.0f} tasks/s   (the storage limit)")
    print(f"claim+complete, 1 thread        {one:10,.0f} tasks/s   {one / bare:.2f}x bare   target >= 2,000 and >= 0.5x")
    print(f"claim+complete, 2 threads       {two:10,.0f} tasks/s   {two / bare:.2f}x bare")
    print(f"claim latency, 1,000 finished   {small:10.3f} ms (p50)")
    print(f"claim latency, {args.big_rows:,} finished {big:8.3f} ms (p50)   {big / small:.2f}x   target <= 1.5x")


if __name__ == "__main__":
    main()
