"""Queue engine benchmark: throughput and latency, each beside a bare sqlite3 peer run the same way.

Run: `make bench` or `.venv/bin/python benchmarks/engine.py [--tasks 20000] [--rounds 5]
[--big-rows 1000000] [--postgres URL | --no-postgres]`. This machine's absolute speed varies from
run to run (and with the load of whatever else runs), so every figure is printed as a ratio to a
peer measured in the same run, and the throughput pairs run in rounds, ours and the peer back to
back (ABAB...): the median ratio over the rounds is printed with its range and the load average:

- claim+complete on one thread, through the service's batch API (dequeue_many then settle_many,
  batches of --batch), vs the plain one-task-per-transaction sqlite3 loop on a minimal jobs table
  (`UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING`, then `UPDATE ... completed`). Target >= 1.0x.
  The same plain loop on the engine's own tasks table (its indexes and count triggers) is printed
  too: what one task per transaction costs on this schema.
- enqueue_many (batches of 10,000) vs a bare batched sqlite3 insert into the minimal table.
  Target >= 0.25x.
- claim latency (p50 of single dequeues) at 1,000,000 finished rows vs at 1,000. Target <= 1.5x.
- stats() (p50) at 1,000,000 finished tasks (and their attempts, over 30 days) vs at 1,000: it
  reads the count and attempt-ledger tables, never the finished rows. Target <= 1.5x.

The PostgreSQL section runs on --postgres URL, else AGENTQ_TEST_POSTGRES_URL, else on a throwaway
cluster (scripts/postgres-test-cluster.sh, stock durability settings) when PostgreSQL is installed.
It creates a database of its own next to the URL's (the user needs CREATEDB) and drops it after:
claim+complete with 1, 2 and 4 worker processes, and the pick-up latency of a task enqueued in one
process by a LISTENing worker in another.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing as mp
import os
import random
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from desktop.queue import Settlement, TaskQueueService
from desktop.queue.db import display_url, queue_url

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres-test-cluster.sh"
PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000")  # the engine's durability


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh(folder: Path, name: str) -> TaskQueueService:
    service = TaskQueueService.open(f"sqlite:///{folder / name}")
    service.add_agent("noop", "echo", concurrency=100_000)
    return service


def seed(service: TaskQueueService, count: int) -> None:
    for start in range(0, count, 10_000):
        service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(start, min(count, start + 10_000))])


# -- the engine ---------------------------------------------------------------------------------


def engine_claim_complete(folder: Path, count: int, batch: int) -> float:
    """Tasks/s through the service on one thread: claim `batch`, complete them, again."""
    service = fresh(folder, f"engine-{batch}.db")
    seed(service, count)
    done = 0
    start = time.perf_counter()
    while claims := service.dequeue_many("bench", batch):
        service.settle_many([Settlement.complete(c.id, c.token) for c in claims], tasks=False)
        done += len(claims)
    elapsed = time.perf_counter() - start
    service.close()
    assert done == count, (done, count)
    return rate(count, elapsed)


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


def latency_ms(folder: Path, finished_rows: int, label: str, samples: int = 500) -> tuple[float, float]:
    """p50 of a single dequeue, and of stats(), on a queue holding `finished_rows` finished tasks."""
    name = f"latency-{label}.db"
    fresh(folder, name).close()
    add_finished_rows(folder / name, finished_rows)
    service = TaskQueueService.open(f"sqlite:///{folder / name}")
    service.enqueue_many([{"agent": "noop", "payload": {"n": i}} for i in range(samples)])
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        claimed = service.dequeue("w")
        times.append(time.perf_counter() - start)
        assert claimed is not None
        service.complete(claimed.id, claimed.token)
    stats_times = []
    for _ in range(samples // 5):
        start = time.perf_counter()
        stats = service.stats()
        stats_times.append(time.perf_counter() - start)
    assert stats.processed == finished_rows + samples, (stats.processed, finished_rows)
    service.close()
    return statistics.median(times) * 1000, statistics.median(stats_times) * 1000


def add_finished_rows(path: Path, count: int) -> None:
    """Fill a queue with `count` finished tasks (one in ten failed) over the 30 days before
    yesterday, each with its attempt, quickly through sqlite3 (the task counts and the attempt
    ledger follow by trigger, as for any writer)."""
    conn = sqlite3.connect(path)
    start, step = time.time() - 31 * 86_400, 30 * 86_400 / max(count, 1)
    rows = (
        ("noop", '{"n":1}', 3, "failed" if i % 10 == 0 else "completed", t, t, t, t + 0.5, 1, 3, 60.0, 3600.0, 100, 0)
        for i, t in ((i, start + i * step) for i in range(count))
    )
    conn.executemany(
        "INSERT INTO tasks (agent, payload, priority, status, scheduled_for, created_at, started_at, "
        "finished_at, attempts, max_retries, retry_base_s, retry_cap_s, progress, cancel_requested) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO task_attempts (task_id, number, worker_id, started_at, finished_at, duration_ms, outcome) "
        "SELECT id, 1, 'bench', started_at, finished_at, 500, status FROM tasks"
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


# -- the peers: plain sqlite3 -------------------------------------------------------------------


def plain_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    return conn


def minimal_jobs(path: Path) -> sqlite3.Connection:
    """The simplest durable queue table: what a plain loop would use."""
    conn = plain_connection(path)
    conn.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, priority INTEGER NOT NULL, "
        "payload TEXT NOT NULL, scheduled_for REAL NOT NULL, lease_owner TEXT, lease_token TEXT, "
        "lease_expires_at REAL, started_at REAL, finished_at REAL, result TEXT)"
    )
    conn.execute("CREATE INDEX ix_jobs_ready ON jobs (priority DESC, scheduled_for, id) WHERE status = 'pending'")
    return conn


def bare_insert(folder: Path) -> float:
    """Rows/s of a batched executemany into the minimal table, 10,000 rows per transaction."""
    conn = minimal_jobs(folder / "bare-insert.db")
    now = time.time()
    start = time.perf_counter()
    for _ in range(5):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO jobs (status, priority, payload, scheduled_for) VALUES ('pending', 3, ?, ?)",
            [(json.dumps({"n": i}), now) for i in range(10_000)],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return rate(50_000, elapsed)


def bare_insert_engine_table(folder: Path) -> float:
    """Rows/s of a batched executemany of the rows enqueue_many writes, into the engine's own tasks
    table (its indexes and count triggers): the same work without the service."""
    fresh(folder, "bare-insert-engine.db").close()
    conn = plain_connection(folder / "bare-insert-engine.db")
    now = time.time()
    row = {
        "agent": "noop", "task_type": None, "priority": 3, "scheduled_for": now, "max_retries": 3,
        "lock_key": None, "unique_key": None, "timeout_s": None, "retry_base_s": 60.0, "retry_cap_s": 3600.0,
        "created_by": None, "notify_url": None, "status": "pending", "created_at": now, "attempts": 0,
        "progress": 0, "cancel_requested": 0,
    }
    columns = ["payload", *row]
    sql = f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    start = time.perf_counter()
    for _ in range(5):
        conn.execute("BEGIN")
        conn.executemany(sql, [{**row, "payload": json.dumps({"n": i})} for i in range(10_000)])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return rate(50_000, elapsed)


def plain_loop(conn: sqlite3.Connection, table: str, ready: str, order: str = "priority DESC, scheduled_for, id") -> int:
    """One task per transaction: claim with UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING,
    then complete with a second UPDATE. Returns how many it ran. `order` is the claim order, the
    columns of the table's ready index."""
    claim = (
        f"UPDATE {table} SET status = 'running', lease_owner = ?, lease_token = ?, lease_expires_at = ?, "
        f"started_at = ? WHERE id = (SELECT id FROM {table} WHERE {ready} AND scheduled_for <= ? "
        f"ORDER BY {order} LIMIT 1) RETURNING id, payload"
    )
    complete = (
        f"UPDATE {table} SET status = 'completed', finished_at = ?, result = 'null', lease_owner = NULL, "
        "lease_token = NULL, lease_expires_at = NULL WHERE id = ? AND status = 'running'"
    )
    done = 0
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(claim, ("plain", secrets.token_hex(16), now + 60, now, now)).fetchone()
        conn.execute("COMMIT")
        if row is None:
            return done
        json.loads(row[1])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(complete, (time.time(), row[0]))
        conn.execute("COMMIT")
        done += 1


def plain_minimal(folder: Path, count: int) -> float:
    conn = minimal_jobs(folder / "plain.db")
    now = time.time()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO jobs (status, priority, payload, scheduled_for) VALUES ('pending', 3, ?, ?)",
        [(json.dumps({"n": i}), now) for i in range(count)],
    )
    conn.execute("COMMIT")
    start = time.perf_counter()
    done = plain_loop(conn, "jobs", "status = 'pending'")
    elapsed = time.perf_counter() - start
    conn.close()
    assert done == count
    return rate(count, elapsed)


def plain_on_engine_schema(folder: Path, count: int) -> float:
    service = fresh(folder, "plain-engine.db")
    seed(service, count)
    service.close()
    conn = plain_connection(folder / "plain-engine.db")
    start = time.perf_counter()
    done = plain_loop(conn, "tasks", "status IN ('pending', 'retrying')", "priority DESC, sort_order, scheduled_for, id")
    elapsed = time.perf_counter() - start
    conn.close()
    assert done == count
    return rate(count, elapsed)


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x (range {min(values):.2f}-{max(values):.2f}x over {len(values)} rounds)"


def sqlite_section(args: argparse.Namespace) -> None:
    print(f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {load()}")
    ratios: dict[str, list[float]] = {"batched": [], "big": [], "single": [], "schema": [], "bulk": [], "bulk_minimal": []}
    with tempfile.TemporaryDirectory(prefix="agentq-bench-") as tmp:
        for n in range(args.rounds):
            folder = Path(tmp) / f"round-{n}"
            folder.mkdir()
            plain = plain_minimal(folder, args.tasks)
            batched = engine_claim_complete(folder, args.tasks, args.batch)
            plain_engine = plain_on_engine_schema(folder, args.tasks)
            big_batches = engine_claim_complete(folder, args.tasks, 1000)
            single = engine_claim_complete(folder, args.tasks // 4, 1)
            bare = bare_insert(folder)
            one, bulk = bench_enqueue(folder, 5_000)
            bare_engine = bare_insert_engine_table(folder)
            for key, value in (("batched", batched / plain), ("big", big_batches / plain), ("single", single / plain),
                               ("schema", plain_engine / plain), ("bulk", bulk / bare_engine), ("bulk_minimal", bulk / bare)):
                ratios[key].append(value)
            print(
                f"round {n + 1}: plain loop {plain:8,.0f} tasks/s   engine, batches of {args.batch} {batched:8,.0f} "
                f"({batched / plain:.2f}x)   of 1000 {big_batches:8,.0f}   one at a time {single:7,.0f}   "
                f"plain loop on the engine's table {plain_engine:8,.0f}   enqueue_many {bulk:8,.0f} rows/s, bare insert "
                f"{bare:8,.0f} (on the engine's table {bare_engine:8,.0f}), enqueue one at a time {one:6,.0f}   {load()}",
                flush=True,
            )
        folder = Path(tmp)
        small, stats_small = latency_ms(folder, 1_000, "small")
        big, stats_big = latency_ms(folder, args.big_rows, "big")
    print("peer: the plain loop, one task per transaction, on a minimal jobs table")
    print(f"plain loop on the engine's tasks table          {spread(ratios['schema'])} the peer")
    print(f"engine claim+complete, batches of {args.batch:<5}         {spread(ratios['batched'])} the peer   target >= 1.0x")
    print(f"engine claim+complete, batches of 1000          {spread(ratios['big'])} the peer")
    print(f"engine claim+complete, one at a time            {spread(ratios['single'])} the peer")
    print(
        f"enqueue_many (batches of 10,000) vs bare insert {spread(ratios['bulk'])} on its table, "
        f"{spread(ratios['bulk_minimal'])} on the minimal one   target >= 0.25x"
    )
    print(f"claim latency, 1,000 finished rows    {small:10.3f} ms (p50)")
    print(
        f"claim latency, {args.big_rows:,} finished rows {big:8.3f} ms (p50)   {big / small:.2f}x   target <= 1.5x"
    )
    print(f"stats(), 1,000 finished tasks         {stats_small:10.3f} ms (p50)")
    print(
        f"stats(), {args.big_rows:,} finished tasks   {stats_big:8.3f} ms (p50)   {stats_big / stats_small:.2f}x"
        "   target <= 1.5x"
    )
    print(load())


# -- PostgreSQL ----------------------------------------------------------------------------------


@contextmanager
def postgres_server(explicit: str | None) -> Iterator[URL | None]:
    """The server to benchmark on, or None: --postgres, AGENTQ_TEST_POSTGRES_URL, a throwaway one."""
    url = explicit or os.environ.get("AGENTQ_TEST_POSTGRES_URL")
    if url:
        yield queue_url(url)
        return
    if not (glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")):
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


def _pg_worker(url: str, name: str, batch: int, go: Any, out: Any) -> None:
    service = TaskQueueService.open(url)
    service.is_paused()  # connect before the clock starts
    out.put(None)
    go.wait()
    done = 0
    while claims := service.dequeue_many(name, batch):
        service.settle_many([Settlement.complete(c.id, c.token) for c in claims], tasks=False)
        done += len(claims)
    out.put((done, time.time()))
    service.close()


def pg_claim_complete(server: URL, count: int, processes: int, batch: int) -> float:
    """Tasks/s drained by `processes` worker processes, each with its own service."""
    with scratch_database(server, f"agentq_bench_{processes}") as url:
        service = TaskQueueService.open(url)
        service.add_agent("noop", "echo", concurrency=100_000)
        seed(service, count)
        service.close()
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_pg_worker, args=(url, f"w{i}", batch, go, out)) for i in range(processes)]
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
            if watcher.changed() and (claimed := service.dequeue("listener")) is not None:
                break
            time.sleep(poll_s)
        out.put(time.time() - claimed.task.payload["sent"])
        service.complete(claimed.id, claimed.token)
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


def postgres_section(server: URL, count: int, batch: int) -> None:
    rates = {n: pg_claim_complete(server, count, n, batch) for n in (1, 2, 4)}
    fast = pg_pickup_ms(server, 0.001)
    pool = pg_pickup_ms(server, 0.05)
    print(f"postgresql at {display_url(server)} ({os.cpu_count()} CPUs here), {load()}")
    for n, value in rates.items():
        print(f"claim+complete, {n} process{'es' if n > 1 else '  '}, batches of {batch}  {value:10,.0f} tasks/s")
    print(f"pick-up via LISTEN, 1 ms poll   {fast[0]:10.1f} ms p50 {fast[1]:8.1f} ms p95")
    print(f"pick-up via LISTEN, 50 ms poll  {pool[0]:10.1f} ms p50 {pool[1]:8.1f} ms p95   (the worker pool's)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per throughput run")
    parser.add_argument("--batch", type=int, default=100, help="tasks per claim and per settle")
    parser.add_argument("--rounds", type=int, default=5, help="ours and the peer back to back, this many times")
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
            postgres_section(server, args.tasks, args.batch)


if __name__ == "__main__":
    main()
