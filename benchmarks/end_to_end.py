"""End-to-end benchmark: the worker pool draining no-op tasks, pick-up latency, and Huey beside it.

Run: `make bench` or `.venv/bin/python benchmarks/end_to_end.py [--tasks 5000]`.
Prints tasks/s with concurrency 1 and 2, the pick-up latency (p50, p95) of a task enqueued into an
idle pool from the same process and from another process, and the same no-op tasks drained by
Huey's SqliteHuey with 2 thread workers (pip install -e '.[bench]'), with our rate as a ratio.
Targets: >= 1,000 tasks/s in-process with concurrency 2 and >= 2x Huey; in-process pick-up p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt

from desktop.bootstrap import open_queue
from desktop.config import PROFILES
from desktop.queue import Task
from desktop.workers.pool import WorkerPool

SETTINGS = dataclasses.replace(PROFILES["production"], poll_interval_s=1.0)


def drain_rate(folder: Path, count: int, concurrency: int) -> float:
    service = open_queue(f"sqlite:///{folder / f'drain-{concurrency}.db'}", SETTINGS)
    service.add_agent("noop", "echo", concurrency=concurrency)
    service.enqueue_many([{"agent": "noop"} for _ in range(count)])
    pool = WorkerPool(service, dataclasses.replace(SETTINGS, concurrency=concurrency), burst=True)
    drained = threading.Event()
    pool.drained.connect(drained.set, Qt.ConnectionType.DirectConnection)
    start = time.perf_counter()
    pool.start()
    drained.wait(timeout=600)
    elapsed = time.perf_counter() - start
    pool.stop(grace_s=0)
    done = service.stats().by_status["completed"]
    service.close()
    assert done == count, f"{done} of {count} completed"
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


def huey_rate(folder: Path, count: int) -> float | None:
    try:
        from huey import SqliteHuey
    except ImportError:
        return None
    huey = SqliteHuey(filename=str(folder / "huey.db"))
    done = threading.Semaphore(0)

    @huey.task()
    def noop() -> None:
        done.release()

    for _ in range(count):
        noop()
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False)  # as shipped
    start = time.perf_counter()
    consumer.start()
    for _ in range(count):
        done.acquire()
    elapsed = time.perf_counter() - start
    consumer.stop(graceful=True)
    return count / elapsed


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--pickups", type=int, default=50)
    args = parser.parse_args()
    QCoreApplication.instance() or QCoreApplication([])
    with tempfile.TemporaryDirectory(prefix="agentq-e2e-") as tmp:
        folder = Path(tmp)
        one = drain_rate(folder, args.tasks, 1)
        two = drain_rate(folder, args.tasks, 2)
        local = pickup_latencies_ms(folder, args.pickups, other_process=False)
        cross = pickup_latencies_ms(folder, max(10, args.pickups // 2), other_process=True)
        huey = huey_rate(folder, args.tasks)
    print(f"drain {args.tasks:,} no-op tasks, concurrency 1   {one:8,.0f} tasks/s")
    print(f"drain {args.tasks:,} no-op tasks, concurrency 2   {two:8,.0f} tasks/s   target >= 1,000")
    if huey is None:
        print("huey not installed: pip install -e '.[bench]' for the comparison")
    else:
        print(f"huey SqliteHuey, 2 thread workers            {huey:8,.0f} tasks/s   ours: {two / huey:.2f}x   target >= 2x")
    print(
        f"pick-up, same process    p50 {statistics.median(local):7.1f} ms   p95 {percentile(local, 0.95):7.1f} ms"
        "   target p50 < 20 ms"
    )
    print(
        f"pick-up, other process   p50 {statistics.median(cross):7.1f} ms   p95 {percentile(cross, 0.95):7.1f} ms"
        f"   (change watch every 50 ms; poll fallback {SETTINGS.poll_interval_s:g} s)"
    )


if __name__ == "__main__":
    main()
