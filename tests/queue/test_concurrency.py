"""Real threads and real processes claiming from one database file."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from collections import Counter

from desktop.queue import TaskQueueService


def _drain(url: str, worker: str, hold_s: float = 0.0) -> list[tuple[int, str | None, float, float]]:
    """Claim and complete until the queue is empty; return (id, lock key, start, end) per task."""
    service = TaskQueueService.open(url)
    done = []
    idle_since = None
    try:
        while True:
            task = service.dequeue(worker)
            if task is None:
                # Tasks may be waiting only for a lock another worker holds: give up after a pause.
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.0:
                    return done
                time.sleep(0.005)  # this worker's poll interval
                continue
            idle_since = None
            start = time.time()
            time.sleep(hold_s)
            end = time.time()
            service.complete(task.id, task.token, {"by": worker})
            done.append((task.id, task.task.lock_key, start, end))
    finally:
        service.close()


def _process_main(url: str, worker: str, hold_s: float, out: mp.Queue) -> None:
    out.put(_drain(url, worker, hold_s))


def _reader_main(url: str, stop: mp.Event, out: mp.Queue) -> None:
    """A window-like reader: statistics and history pages in a loop while workers write."""
    service = TaskQueueService.open(url)
    reads = 0
    while not stop.is_set():
        service.stats()
        service.list_tasks(limit=50)
        reads += 1
    service.close()
    out.put(reads)


def _seed(url: str, count: int, lock_keys: int = 0) -> set[int]:
    service = TaskQueueService.open(url)
    service.add_agent("echo", "echo", concurrency=64)
    tasks = service.enqueue_many(
        [
            {"agent": "echo", "payload": {"n": i}, "lock_key": f"repo-{i % lock_keys}" if lock_keys else None}
            for i in range(count)
        ]
    )
    service.close()
    return {t.id for t in tasks}


def test_threads_claim_every_task_exactly_once(db_url: str) -> None:
    ids = _seed(db_url, 600)
    results: list[list[tuple[int, str | None, float, float]]] = []
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            results.append(_drain(db_url, name))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"thread-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    claimed = Counter(task_id for batch in results for task_id, *_ in batch)
    assert set(claimed) == ids
    assert max(claimed.values()) == 1
    assert sum(1 for batch in results if batch) > 1, "work should be shared between threads"


def test_processes_claim_every_task_exactly_once_while_a_reader_reads(db_url: str) -> None:
    ids = _seed(db_url, 1500)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    reader_out: mp.Queue = ctx.Queue()
    reader = ctx.Process(target=_reader_main, args=(db_url, stop, reader_out))
    reader.start()
    workers = [ctx.Process(target=_process_main, args=(db_url, f"proc-{i}", 0.0, out)) for i in range(3)]
    for proc in workers:
        proc.start()
    batches = [out.get(timeout=120) for _ in workers]
    stop.set()
    reads = reader_out.get(timeout=30)
    for proc in [*workers, reader]:
        proc.join(timeout=30)
        assert proc.exitcode == 0, "a process died (a 'database is locked' error would do that)"
    claimed = Counter(task_id for batch in batches for task_id, *_ in batch)
    assert set(claimed) == ids
    assert max(claimed.values()) == 1
    assert reads > 0
    service = TaskQueueService.open(db_url)
    assert service.stats().by_status["completed"] == len(ids)
    service.close()


def test_a_lock_key_is_never_held_by_two_processes_at_once(db_url: str) -> None:
    _seed(db_url, 60, lock_keys=3)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    workers = [ctx.Process(target=_process_main, args=(db_url, f"proc-{i}", 0.02, out)) for i in range(3)]
    for proc in workers:
        proc.start()
    batches = [out.get(timeout=120) for _ in workers]
    for proc in workers:
        proc.join(timeout=30)
    runs = sorted((key, start, end) for batch in batches for _, key, start, end in batch)
    assert len(runs) == 60
    for (key_a, _, end_a), (key_b, start_b, _) in zip(runs, runs[1:], strict=False):
        if key_a == key_b:
            assert start_b >= end_a, f"two tasks held {key_a} at the same time"
