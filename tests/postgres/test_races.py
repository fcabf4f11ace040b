"""Writers on separate connections at the same moment: what SQLite's single write lock gives for
free must still hold under PostgreSQL's READ COMMITTED."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from desktop.queue import TaskQueueService, TaskStatus


@pytest.fixture
def services(postgres_url: str) -> Iterator[list[TaskQueueService]]:
    """Two services with their own engines: two hosts, as far as the database can tell."""
    opened = [TaskQueueService.open(postgres_url) for _ in range(2)]
    opened[0].add_agent("echo", "echo", concurrency=100)
    yield opened
    for service in opened:
        service.close()


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; return their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_dependencies_completing_at_once_unblock_their_dependent(services: list[TaskQueueService]) -> None:
    a_service, b_service = services
    for _ in range(40):
        a, b = a_service.enqueue("echo"), a_service.enqueue("echo")
        child = a_service.enqueue("echo", depends_on=[a.id, b.id])
        claimed_a = a_service.dequeue("wa")
        claimed_b = b_service.dequeue("wb")
        assert claimed_a is not None and claimed_b is not None
        at_once(
            partial(a_service.complete, claimed_a.id, claimed_a.token),
            partial(b_service.complete, claimed_b.id, claimed_b.token),
        )
        assert a_service.get(child.id).status is TaskStatus.PENDING
        claimed = a_service.dequeue("w")
        assert claimed is not None and claimed.id == child.id
        a_service.complete(claimed.id, claimed.token)


def test_two_enqueues_of_one_unique_key_at_once_make_one_task(services: list[TaskQueueService]) -> None:
    first, second = services
    for n in range(30):
        results = at_once(
            partial(first.enqueue, "echo", {"from": 1}, unique_key=f"k{n}"),
            partial(second.enqueue, "echo", {"from": 2}, unique_key=f"k{n}"),
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        assert results[0].id == results[1].id
    assert first.count_tasks() == 30


def test_a_cancel_racing_a_claim_never_leaves_a_running_task_marked_cancelled(
    services: list[TaskQueueService],
) -> None:
    canceller, worker = services
    for _ in range(40):
        task = canceller.enqueue("echo")
        cancelled, claimed = at_once(partial(canceller.cancel, task.id), partial(worker.dequeue, "w"))
        now = canceller.get(task.id)
        if claimed is not None:  # claimed first: the cancel became a request to its worker
            assert now.status is TaskStatus.RUNNING and now.cancel_requested
            worker.fail(task.id, claimed.token, "stopped")
            assert canceller.get(task.id).status is TaskStatus.CANCELLED
        else:
            assert now.status is TaskStatus.CANCELLED and cancelled.status is TaskStatus.CANCELLED
            assert canceller.attempts(task.id) == []


def test_several_workers_firing_schedules_enqueue_each_fire_once(services: list[TaskQueueService]) -> None:
    first, second = services
    clock = [1_800_000_000.0]
    for service in services:
        service.clock = lambda: clock[0]
    for n in range(5):
        first.add_schedule(f"s{n}", "* * * * *", "echo")
    for _ in range(5):
        clock[0] += 60
        fired = at_once(first.fire_due_schedules, second.fire_due_schedules, first.fire_due_schedules)
        assert sum(len(f) for f in fired) == 5
    assert first.count_tasks() == 25
