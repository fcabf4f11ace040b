"""End-to-end benchmark: a real `agentq worker` process draining no-op tasks, pick-up latency, and
Huey's SqliteHuey beside it.

Run: `make bench` or `.venv/bin/python benchmarks/end_to_end.py [--tasks 20000] [--rounds 3]
[--pickups 50]`.

The machine's speed swings with its load, so the drains run in rounds, each one ours then Huey
NORMAL then Huey's defaults back to back (ABAB...): every ratio is taken within a round, and the
median ratio and its range over the rounds are printed with the load average of each round.

- Ours: `agentq worker --burst --concurrency 2` in a subprocess drains --tasks no-op tasks (the
  `echo` kind). Start-up is excluded: the rate is tasks / (last task's finished_at - first task's
  started_at), read from the database afterwards.
- Huey: SqliteHuey with 2 thread workers drains as many no-op tasks, timed from the consumer's
  start to the last task's end; once with synchronous=NORMAL (the durability Agent Queue runs
  with) and once with Huey's defaults (synchronous=FULL). Needs the bench extra (huey).
  Target: ours >= 2x Huey at NORMAL.
- Pick-up: from enqueue to the task's start on an idle in-process pool, enqueued from the same
  process (target p50 < 20 ms) and from another process (target p50 < 50 ms).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt

from desktop.bootstrap import open_queue
from desktop.config import PROFILES
from desktop.queue import Task, TaskQueueService
from desktop.workers.pool import WorkerPool

SETTINGS = dataclasses.replace(PROFILES["production"], poll_interval_s=1.0)
REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def worker_drain_rate(folder: Path, count: int, concurrency: int) -> float:
    """Tasks/s of `agentq worker --burst` in a subprocess, from its first start to its last end."""
    db = folder / f"drain-{concurrency}.db"
    url = f"sqlite:///{db}"
    service = TaskQueueService.open(url)
    service.add_agent("noop", "echo", concurrency=100_000)
    for start in range(0, count, 10_000):
        service.enqueue_many([{"agent": "noop"} for _ in range(min(10_000, count - start))])
    service.close()
    env = {
        **os.environ, "AGENTQ_DATABASE_URL": url, "AGENTQ_ENV": "production", "QT_QPA_PLATFORM": "offscreen",
        "AGENTQ_DATA_DIR": str(folder / "data"), "AGENTQ_LOG_DIR": str(folder / "logs"),
        "AGENTQ_CONFIG_DIR": str(folder / "config"),
    }
    subprocess.run(
        [sys.executable, "-m", "desktop", "--log-level", "WARNING", "worker", "--burst", "--concurrency", str(concurrency)],
        env=env, cwd=REPO, check=True,
    )
    conn = sqlite3.connect(db)
    first, last, done = conn.execute(
        "SELECT min(started_at), max(finished_at), count(*) FROM tasks WHERE status = 'completed'"
    ).fetchone()
    conn.close()
    assert done == count, f"{done} of {count} completed"
    return done / (last - first)


def huey_rate(folder: Path, count: int, *, normal: bool) -> float | None:
    """Tasks/s of SqliteHuey with 2 thread workers; synchronous=NORMAL, or Huey's own default."""
    try:
        from huey import SqliteHuey
        from huey.storage import SqliteStorage
    except ImportError:
        return None

    class NormalSyncStorage(SqliteStorage):  # type: ignore[misc]
        def _create_connection(self):  # type: ignore[no-untyped-def]
            conn = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

    name = "huey-normal.db" if normal else "huey-default.db"
    options = {"storage_class": NormalSyncStorage} if normal else {}
    huey = SqliteHuey(filename=str(folder / name), **options)
    done = threading.Semaphore(0)

    @huey.task()
    def noop() -> None:
        done.release()

    for _ in range(count):
        noop()
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False)
    start = time.perf_counter()
    consumer.start()
    for _ in range(count):
        done.acquire()
    elapsed = time.perf_counter() - start
    consumer.stop(graceful=True)
    return count / elapsed


def _enqueue_from_another_process(url: str, count: int, gap_s: float) -> None:
    service = open_queue(url, SETTINGS)
    for _ in range(count):
        time.sleep(gap_s)
        service.enqueue("noop", {"enqueued_at": time.time()})
    service.close()


def pickup_latencies_ms(folder: Path, count: int, *, other_process: bool) -> list[float]:
    """Time from enqueue to the task's start on an idle pool, once per task."""
    url = f"sqlite:///{folder / ('pickup-cross.db' if other_process else 'pickup-local.db')}"
    service = open_queue(url, SETTINGS)
    service.add_agent("noop", "echo", concurrency=4)
    pool = WorkerPool(service, SETTINGS)
    latencies: list[float] = []
    all_started = threading.Event()

    def started(task: Task) -> None:
        latencies.append((time.time() - task.payload["enqueued_at"]) * 1000)
        if len(latencies) == count:
            all_started.set()

    pool.task_started.connect(started, Qt.ConnectionType.DirectConnection)
    pool.start()
    time.sleep(0.3)
    if other_process:
        proc = mp.get_context("spawn").Process(target=_enqueue_from_another_process, args=(url, count, 0.25))
        proc.start()
        all_started.wait(timeout=count * 2 + 30)
        proc.join()
    else:
        for _ in range(count):
            time.sleep(0.02)  # idle again before the next one
            service.enqueue("noop", {"enqueued_at": time.time()})
        all_started.wait(timeout=60)
    pool.stop(grace_s=1)
    service.close()
    return latencies


def drain_rounds(folder: Path, count: int, rounds: int) -> None:
    """Ours, Huey NORMAL and Huey's defaults back to back, `rounds` times; the ratios per round,
    then their median and range."""
    ratios: dict[str, list[float]] = {"normal": [], "default": []}
    for n in range(rounds):
        round_folder = folder / f"round-{n}"
        round_folder.mkdir()
        ours = worker_drain_rate(round_folder, count, 2)
        normal = huey_rate(round_folder, count, normal=True)
        default = huey_rate(round_folder, count, normal=False)
        if normal is None or default is None:
            print(f"round {n + 1}: ours {ours:8,.0f} tasks/s; huey not installed: pip install -e '.[bench]' for the comparison")
            continue
        ratios["normal"].append(ours / normal)
        ratios["default"].append(ours / default)
        print(
            f"round {n + 1}: agentq worker --burst -c 2 {ours:8,.0f} tasks/s   huey NORMAL {normal:8,.0f} ({ours / normal:.2f}x)"
            f"   huey defaults {default:8,.0f} ({ours / default:.2f}x)   {load()}",
            flush=True,
        )
    if ratios["normal"]:
        print(f"ours vs huey SqliteHuey, 2 threads, synchronous=NORMAL   {spread(ratios['normal'])}   target >= 2x")
        print(f"ours vs huey SqliteHuey, 2 threads, its defaults (FULL)  {spread(ratios['default'])}")


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f}x (range {min(values):.2f}-{max(values):.2f}x over {len(values)} rounds)"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="drains of ours and Huey's, back to back")
    parser.add_argument("--pickups", type=int, default=50, help="0 skips the pick-up latencies")
    args = parser.parse_args()
    QCoreApplication.instance() or QCoreApplication([])
    print(f"{os.cpu_count()} CPUs, {load()}; {args.tasks:,} no-op tasks per drain")
    with tempfile.TemporaryDirectory(prefix="agentq-e2e-") as tmp:
        folder = Path(tmp)
        drain_rounds(folder, args.tasks, args.rounds)
        if not args.pickups:
            return
        local = pickup_latencies_ms(folder, args.pickups, other_process=False)
        cross = pickup_latencies_ms(folder, max(10, args.pickups // 2), other_process=True)
    print(
        f"pick-up, same process    p50 {statistics.median(local):7.1f} ms   p95 {percentile(local, 0.95):7.1f} ms"
        "   target p50 < 20 ms"
    )
    print(
        f"pick-up, other process   p50 {statistics.median(cross):7.1f} ms   p95 {percentile(cross, 0.95):7.1f} ms"
        "   target p50 < 50 ms"
    )
    print(load())


if __name__ == "__main__":
    main()
