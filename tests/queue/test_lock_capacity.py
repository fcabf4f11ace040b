"""Lock keys with a capacity: at most N running tasks per key, enforced by the database."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desktop.queue import LockInfo, TaskQueueService, TaskStatus, TaskValidationError
from tests.conftest import FakeClock
from tests.queue.helpers import at, claim, token

HOLD_S = 0.15


def test_capacity_n_lets_n_tasks_of_a_key_run_and_the_next_waits(queue: TaskQueueService) -> None:
    queue.set_lock_capacity("repo:app", 3)
    tasks = [queue.enqueue("echo", lock_key="repo:app", priority=5) for _ in range(4)]
    other = queue.enqueue("echo", lock_key="repo:other")

    leases = {t.id: token(claim(queue, t.id, f"w{n}")) for n, t in enumerate(tasks[:3])}
    claim(queue, other.id, "w9")  # the fourth task of repo:app waits; another key runs instead
    assert queue.dequeue("w10") is None
    assert queue.lock_capacity("repo:app") == 3 and queue.lock_capacity("repo:other") == 1

    queue.complete(tasks[1].id, leases[tasks[1].id])
    claim(queue, tasks[3].id, "w11")


def test_capacity_one_is_the_default_and_behaves_as_a_plain_lock_key(queue: TaskQueueService) -> None:
    queue.set_lock_capacity("explicit", 1)
    for key in ("implicit", "explicit"):
        first, second = queue.enqueue("echo", lock_key=key), queue.enqueue("echo", lock_key=key)
        lease = token(claim(queue, first.id))
        assert queue.dequeue("w2") is None
        queue.complete(first.id, lease)
        claim(queue, second.id, "w2")


def test_lowering_a_capacity_stops_no_running_task_and_blocks_claims_until_below_it(
    queue: TaskQueueService,
) -> None:
    queue.set_lock_capacity("k", 3)
    tasks = [queue.enqueue("echo", lock_key="k") for _ in range(5)]
    leases = {t.id: token(claim(queue, t.id)) for t in tasks[:3]}

    queue.set_lock_capacity("k", 1)

    assert [queue.get(t.id).status for t in tasks[:3]] == [TaskStatus.RUNNING] * 3
    assert queue.lock_capacity("k") == 1
    assert queue.dequeue("w2") is None
    queue.complete(tasks[0].id, leases[tasks[0].id])
    assert queue.dequeue("w2") is None  # 2 still run: not below 1 yet
    queue.complete(tasks[1].id, leases[tasks[1].id])
    assert queue.dequeue("w2") is None  # 1 runs: at the capacity
    queue.fail(tasks[2].id, leases[tasks[2].id], "broken", retryable=False)
    claim(queue, tasks[3].id, "w2")
    assert queue.dequeue("w3") is None


def test_raising_a_capacity_lets_waiting_tasks_run_at_once(queue: TaskQueueService) -> None:
    first, second = queue.enqueue("echo", lock_key="k"), queue.enqueue("echo", lock_key="k")
    claim(queue, first.id)
    assert queue.dequeue("w2") is None

    queue.set_lock_capacity("k", 2)

    claim(queue, second.id, "w2")


def test_locks_lists_every_holder_with_its_keys_capacity(queue: TaskQueueService, clock: FakeClock) -> None:
    queue.set_lock_capacity("repo:app", 2)
    a, b = queue.enqueue("echo", lock_key="repo:app"), queue.enqueue("echo", lock_key="repo:app")
    solo = queue.enqueue("echo", lock_key="repo:solo")
    claim(queue, a.id, "wa", lease_s=30)
    clock.advance(1)
    claim(queue, b.id, "wb", lease_s=30)
    claim(queue, solo.id, "wc", lease_s=30)

    assert queue.locks() == [
        LockInfo("repo:app", a.id, "echo", "wa", at(clock.now - 1), at(clock.now + 29), 2),
        LockInfo("repo:app", b.id, "echo", "wb", at(clock.now), at(clock.now + 30), 2),
        LockInfo("repo:solo", solo.id, "echo", "wc", at(clock.now), at(clock.now + 30), 1),
    ]


def test_the_database_refuses_more_running_tasks_than_the_capacity(queue: TaskQueueService) -> None:
    queue.set_lock_capacity("repo:shared", 2)
    ids = [queue.enqueue("echo", lock_key="repo:shared").id for _ in range(3)]
    claim(queue, ids[0])

    # Bypassing the service: the trigger's count and the key's CHECK still apply.
    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET status = 'running' WHERE id IN ({ids[1]}, {ids[2]})"))
    with queue.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET status = 'running' WHERE id = {ids[1]}"))  # the 2nd fits

    assert [queue.get(i).status for i in ids] == [TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.PENDING]


@pytest.mark.parametrize(
    ("key", "capacity", "field", "rule"),
    [
        ("k", 0, "capacity", "1 or more"),
        ("k", -2, "capacity", "1 or more"),
        ("k", 1.5, "capacity", "whole number"),
        ("k", True, "capacity", "whole number"),
        ("k", 10**7, "capacity", "at most"),
        ("", 2, "key", "non-empty"),
        ("x" * 501, 2, "key", "at most 500"),
    ],
)
def test_a_bad_capacity_is_refused_naming_the_field(
    queue: TaskQueueService, key: str, capacity: object, field: str, rule: str
) -> None:
    with pytest.raises(TaskValidationError) as caught:
        queue.set_lock_capacity(key, capacity)  # type: ignore[arg-type]
    assert caught.value.field == field and rule in caught.value.rule
    assert queue.lock_capacity("k") == 1


def _run_with_threads(url: str, worker: str, threads: int, ready: mp.Queue, go: Any, out: mp.Queue) -> None:
    """Claim and hold tasks with `threads` claimers until the queue is drained; report intervals."""
    service = TaskQueueService.open(url)
    service.is_paused()  # connected: now start together with the other process
    ready.put(worker)
    go.wait(60)
    intervals: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        idle_since = None
        while True:
            claimed = service.dequeue(f"{worker}-{n}")
            if claimed is None:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.5:  # nothing left, or all waiting on the key
                    return
                time.sleep(0.005)  # this claimer's poll interval
                continue
            idle_since = None
            began = time.time()
            time.sleep(HOLD_S)
            ended = time.time()
            service.complete(claimed.id, claimed.token)
            with lock:
                intervals.append((claimed.task.lock_key or "", began, ended))
            # Poll before claiming again, as between two tasks of its own: otherwise the thread that
            # freed a slot takes it back at once, and a process that started late (a loaded
            # machine) never gets one.
            time.sleep(0.005)

    pool = [threading.Thread(target=claimer, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    service.close()
    out.put(intervals)


def _peak(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_n_plus_one_claimers_in_two_processes_never_run_more_than_the_capacity(db_url: str) -> None:
    capacity = 3
    setup = TaskQueueService.open(db_url)
    setup.add_agent("echo", "echo", concurrency=64)
    setup.set_lock_capacity("repo:shared", capacity)
    setup.enqueue_many([{"agent": "echo", "lock_key": "repo:shared"} for _ in range(4 * (capacity + 1))])
    setup.enqueue_many([{"agent": "echo", "lock_key": "repo:solo"} for _ in range(4)])
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    ready: mp.Queue = ctx.Queue()
    go = ctx.Event()
    # Two processes with capacity + 1 claimers each: always more claimers than the key admits.
    procs = [
        ctx.Process(target=_run_with_threads, args=(db_url, f"p{i}", capacity + 1, ready, go, out)) for i in range(2)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    runs = [run for batch in results for run in batch]
    shared = [(start, end) for key, start, end in runs if key == "repo:shared"]
    solo = [(start, end) for key, start, end in runs if key == "repo:solo"]
    assert len(shared) == 4 * (capacity + 1) and len(solo) == 4
    assert _peak(shared) == capacity, "the shared key ran more (or never as many) tasks at once than its capacity"
    assert _peak(solo) == 1
    assert all(batch for batch in results), "both processes should have run tasks"
    assert setup.count_tasks(status="completed") == 4 * (capacity + 2)
    setup.close()
