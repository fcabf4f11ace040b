"""Queue engine benchmark: prints throughput and latency figures, and ratios to bare sqlite3.

Run: `make bench` or `.venv/bin/python benchmarks/engine.py [--big-rows 1000000] [--postgres URL]`.
Each figure comes with the same work done through `sqlite3` directly (the same SQL, no ORM, no
service), because this machine's absolute speed varies; the ratios are what to compare.
Targets: enqueue_many >= 30,000 tasks/s; claim+complete >= 2,000 tasks/s on one thread and >= half
the bare loop's rate; claim latency at 1,000,000 finished rows within 1.5x of that at 1,000.

The PostgreSQL section runs on --postgres URL, else AGENTQ_TEST_POSTGRES_URL, else on a throwaway
cluster (scripts/postgres-test-cluster.sh, stock durability settings) when PostgreSQL is
installed. It creates a database of its own next to the URL's (so the user needs CREATEDB) and
drops it afterwards: claim+complete with 1, 2 and 4 worker processes, and the pick-up latency of a
task enqueued in one process by a LISTENing worker in another.
"""

from __future__ import annotations

import argparse
import glob
import multiprocessing as mp
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from desktop.queue import TaskQueueService
from desktop.queue.db import display_url, queue_url
from desktop.queue.backends.sqlite import _CLAIM, _COMPLETE, _END_ATTEMPT, _NEW_ATTEMPT, _UNBLOCK

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-test-cluster.sh"

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
        service.complete(task.id, task.token)
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
        row = conn.execute(_CLAIM, claim).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        conn.execute(_NEW_ATTEMPT, {"task_id": row[0], "worker": "bare", "now": now})
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        now = time.time()
        conn.execute(_COMPLETE, {"id": row[0], "token": token, "now": now, "result": "null"}).fetchone()
        end = {"task_id": row[0], "now": now, "outcome": "completed", "error": None, "traceback": None, "output_tail": None}
        conn.execute(_END_ATTEMPT, end)
        conn.execute(_UNBLOCK, {"done": row[0]})
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
        service.complete(task.id, task.token)
    service.close()
    return statistics.median(times) * 1000


def sqlite_section(args: argparse.Namespace) -> None:
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


# -- PostgreSQL ----------------------------------------------------------------------------------


@contextmanager
def postgres_server(explicit: str | None) -> Iterator[URL | None]:
    """The server to benchmark on, or None: --postgres, AGENTQ_TEST_POSTGRES_URL, a throwaway one."""
    url = explicit or os.environ.get("AGENTQ_TEST_POSTGRES_URL")
    if url:
        yield queue_url(url)
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        yield None
        return
    folder = tempfile.mkdtemp(prefix="agentq-bench-pg-", dir="/tmp" if os.geteuid() == 0 else None)
    try:
        out = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start", folder], capture_output=True, text=True, check=True)
        yield queue_url(out.stdout.strip())
    finally:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", folder], capture_output=True, check=False)


@contextmanager
def scratch_database(server: URL, name: str) -> Iterator[str]:
    """A new, empty database on `server` for one run; dropped afterwards."""
    import psycopg

    def admin() -> Any:
        return psycopg.connect(
            host=server.host, port=server.port, user=server.username, password=server.password,
            dbname=server.database, autocommit=True,
        )

    name = f"{name}_{os.getpid()}"
    with admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pg_worker(url: str, name: str, go: Any, out: Any) -> None:
    service = TaskQueueService.open(url)
    service.is_paused()  # connect before the clock starts
    out.put(None)
    go.wait()
    counts: list[int] = []
    drain(service, name, counts)
    out.put((counts[0], time.time()))
    service.close()


def pg_claim_complete(server: URL, count: int, processes: int) -> float:
    """Tasks/s drained by `processes` worker processes, each with its own service."""
    with scratch_database(server, f"agentq_bench_{processes}") as url:
        service = TaskQueueService.open(url)
        service.add_agent("noop", "echo", concurrency=1000)
        service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(count)])
        service.close()
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_pg_worker, args=(url, f"w{i}", go, out)) for i in range(processes)]
        for proc in procs:
            proc.start()
        for _ in procs:
            out.get(timeout=120)  # each one is connected
        start = time.time()
        go.set()
        results = [out.get(timeout=600) for _ in procs]
        for proc in procs:
            proc.join()
    assert sum(done for done, _ in results) == count, results
    return rate(count, max(end for _, end in results) - start)


def _pg_listener(url: str, poll_s: float, samples: int, ready: Any, out: Any) -> None:
    """A worker that claims when its LISTEN connection hears of new work."""
    service = TaskQueueService.open(url)
    watcher = service.watcher()
    watcher.changed()
    ready.set()
    for _ in range(samples):
        while True:
            if watcher.changed() and (task := service.dequeue("listener")) is not None:
                break
            time.sleep(poll_s)
        out.put(time.time() - task.task.payload["sent"])
        service.complete(task.id, task.token)
    watcher.close()
    service.close()


def pg_pickup_ms(server: URL, poll_s: float, samples: int = 200) -> tuple[float, float]:
    """p50 and p95 from enqueue (in this process) to claimed (in a LISTENing one), in ms."""
    with scratch_database(server, "agentq_bench_latency") as url:
        service = TaskQueueService.open(url)
        service.add_agent("noop", "echo")
        ctx = mp.get_context("spawn")
        ready, out = ctx.Event(), ctx.Queue()
        listener = ctx.Process(target=_pg_listener, args=(url, poll_s, samples, ready, out))
        listener.start()
        ready.wait(timeout=60)
        delays = []
        for _ in range(samples):
            service.enqueue("noop", {"sent": time.time()})
            delays.append(out.get(timeout=30) * 1000)
            time.sleep(random.uniform(0, 0.1))  # enqueue at any point of the listener's poll cycle
        listener.join()
        service.close()
    cuts = statistics.quantiles(delays, n=20)
    return statistics.median(delays), cuts[18]


def postgres_section(server: URL, count: int) -> None:
    rates = {n: pg_claim_complete(server, count, n) for n in (1, 2, 4)}
    fast = pg_pickup_ms(server, 0.001)
    pool = pg_pickup_ms(server, 0.05)
    print(f"postgresql at {display_url(server)} ({os.cpu_count()} CPUs here)")
    for n, value in rates.items():
        print(f"claim+complete, {n} process{'es' if n > 1 else '  '}    {value:10,.0f} tasks/s")
    print(f"pick-up via LISTEN, 1 ms poll   {fast[0]:10.1f} ms p50 {fast[1]:8.1f} ms p95")
    print(f"pick-up via LISTEN, 50 ms poll  {pool[0]:10.1f} ms p50 {pool[1]:8.1f} ms p95   (the worker pool's)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5_000, help="tasks per throughput run")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="finished rows for the latency run")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL server to benchmark too (user needs CREATEDB)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL section")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite section")
    args = parser.parse_args()
    if not args.no_sqlite:
        sqlite_section(args)
    if args.no_postgres:
        return
    with postgres_server(args.postgres) as server:
        if server is None:
            print("postgresql: skipped (install PostgreSQL, or pass --postgres URL)")
        else:
            postgres_section(server, args.tasks)


if __name__ == "__main__":
    main()
