"""Which enqueues were new: per thread, so concurrent API requests never see each other's tasks."""

from __future__ import annotations

import threading

from desktop.api.tracking import InsertedTasks
from desktop.queue import TaskQueueService


def test_each_thread_sees_only_the_tasks_it_added(queue: TaskQueueService) -> None:
    tracker = InsertedTasks(queue)
    barrier = threading.Barrier(4)
    seen: dict[int, tuple[set[int], set[int]]] = {}

    def enqueue(n: int) -> None:
        barrier.wait()
        with tracker.track() as new:
            returned = {queue.enqueue("echo", {"n": n, "i": i}).id for i in range(25)}
            returned |= {t.id for t in queue.enqueue_many([{"agent": "echo"}] * 5)}
        seen[n] = (returned, set(new))

    threads = [threading.Thread(target=enqueue, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(returned == new and len(new) == 30 for returned, new in seen.values())
    assert len(set().union(*(new for _, new in seen.values()))) == 120


def test_a_unique_key_already_held_is_not_new(queue: TaskQueueService) -> None:
    tracker = InsertedTasks(queue)
    first = queue.enqueue("echo", unique_key="u")
    with tracker.track() as new:
        again = queue.enqueue("echo", unique_key="u")
    assert again.id == first.id and new == set()
    with tracker.track() as outside:
        pass
    assert outside == set()
