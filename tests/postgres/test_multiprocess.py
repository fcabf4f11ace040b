"""Four worker processes drain one PostgreSQL queue: exactly once, lock keys exclusive, and a
worker killed with SIGKILL loses nothing."""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from desktop.queue import TaskQueueService, TaskStatus

TASKS = 5_000
LOCK_KEYS = 20
WORKERS = 4
LEASE_S = 2.0
HOLD_S = 0.0005  # each task holds its lock key this long, so the recorded intervals mean something


def _worker(url: str, name: str, log_path: str, stop_after: int | None, holding: Any) -> None:
    """Claim, hold, complete until nothing is left; log "claimed/released" lines to `log_path`.

    With `stop_after`, claim one more task after that many and freeze, holding it, until killed.
    """
    service = TaskQueueService.open(url)
    done = 0
    last_recover = 0.0
    with open(log_path, "a", buffering=1) as log:  # line-buffered: a SIGKILL loses no whole line
        while True:
            task = service.dequeue(name, lease_s=LEASE_S)
            if task is None:
                if service.count_tasks(status=["pending", "retrying", "running", "blocked"]) == 0:
                    break
                if time.monotonic() - last_recover > 0.5:  # a dead worker's lease comes back
                    service.recover_expired_leases()
                    last_recover = time.monotonic()
                time.sleep(0.01)  # this worker's poll interval
                continue
            claimed = time.time()
            if stop_after is not None and done >= stop_after:
                log.write(f"frozen {task.id}\n")
                holding.set()
                time.sleep(3600)
            time.sleep(HOLD_S)
            released = time.time()
            service.complete(task.id, task.token)
            log.write(f"{task.id} {task.task.lock_key} {claimed!r} {released!r}\n")
            done += 1
    service.close()


@pytest.mark.timeout(600)  # its own waits allow 120 s + 240 s on a loaded machine
def test_four_processes_drain_5000_tasks_exactly_once_surviving_a_sigkill(
    postgres_url: str, tmp_path: Path
) -> None:
    seeder = TaskQueueService.open(postgres_url)
    seeder.add_agent("echo", "echo", concurrency=64, retry_base_s=0.0, max_retries=3)
    ids = {
        t.id
        for t in seeder.enqueue_many(
            [{"agent": "echo", "payload": {"n": i}, "lock_key": f"repo-{i % LOCK_KEYS}"} for i in range(TASKS)]
        )
    }
    ctx = mp.get_context("spawn")
    holding = ctx.Event()
    logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
    victim = 0
    procs = [
        ctx.Process(
            target=_worker,
            args=(postgres_url, f"proc-{i}", str(logs[i]), 500 if i == victim else None, holding),
        )
        for i in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    assert holding.wait(timeout=120), "the victim never reached its 500th task"
    os.kill(procs[victim].pid, signal.SIGKILL)  # type: ignore[arg-type]
    for proc in procs:
        proc.join(timeout=240)
    assert procs[victim].exitcode == -signal.SIGKILL
    assert [p.exitcode for p in procs[1:]] == [0] * (WORKERS - 1), "a surviving worker failed"

    # Every task completed, with exactly one completed attempt; the frozen one was lost once.
    assert seeder.count_tasks(status="completed") == TASKS
    with seeder.engine.connect() as conn:
        outcomes = conn.execute(text("SELECT task_id, outcome, worker_id FROM task_attempts")).all()
    completed = Counter(task_id for task_id, outcome, _ in outcomes if outcome == "completed")
    assert set(completed) == ids and set(completed.values()) == {1}
    frozen = [int(line.split()[1]) for line in logs[victim].read_text().splitlines() if line.startswith("frozen")]
    lost = [(task_id, worker) for task_id, outcome, worker in outcomes if outcome == "lost"]
    assert lost == [(frozen[0], f"proc-{victim}")]
    assert seeder.get(frozen[0]).status is TaskStatus.COMPLETED and seeder.get(frozen[0]).attempts == 2
    assert len(outcomes) == TASKS + 1

    # The workers' own logs agree, and show no lock key held by two tasks at once.
    runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    logged = Counter()
    for path in logs:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                logged[int(parts[0])] += 1
                runs[parts[1]].append((float(parts[2]), float(parts[3])))
    assert set(logged) == ids and set(logged.values()) == {1}
    assert len(runs) == LOCK_KEYS
    for key, intervals in runs.items():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"two tasks held {key} at once"
    assert sum(1 for path in logs[1:] if path.read_text()) == WORKERS - 1, "every worker should have claimed"
    seeder.close()


@pytest.mark.parametrize("workers", [6])
def test_an_agents_concurrency_limit_holds_across_connections(postgres_url: str, workers: int) -> None:
    """Each thread has its own service (its own connections), like workers on separate hosts."""
    import threading

    setup = TaskQueueService.open(postgres_url)
    setup.add_agent("limited", "echo", concurrency=2)
    setup.add_agent("free", "echo", concurrency=100)
    setup.enqueue_many([{"agent": "limited" if i % 2 else "free"} for i in range(400)])
    intervals: list[tuple[float, float, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(name: str) -> None:
        service = TaskQueueService.open(postgres_url)
        start.wait()
        try:
            while (task := service.dequeue(name)) is not None:
                began = time.time()
                time.sleep(0.002)  # the task's work
                ended = time.time()
                service.complete(task.id, task.token)
                intervals.append((began, ended, task.task.agent))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            service.close()

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert setup.count_tasks(status="completed") == 400
    events = sorted(
        [(began, 1) for began, _, agent in intervals if agent == "limited"]
        + [(ended, -1) for _, ended, agent in intervals if agent == "limited"]
    )
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2, "the limited agent ran more (or fewer) than 2 tasks at once"
    setup.close()
