"""Which task dequeue() hands out next, and which tasks it must leave alone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from desktop.queue import NotFoundError, TaskQueueService, TaskStatus
from tests.conftest import FakeClock
from tests.queue.helpers import at


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    """The service with two agents that have room for many running tasks."""
    service.add_agent("alpha", "echo", concurrency=50)
    service.add_agent("beta", "echo", concurrency=50)
    return service


def claim_all(service: TaskQueueService, worker: str = "w1", **filters: object) -> list[int]:
    """Claim (without finishing) until nothing is claimable; the ids in claim order."""
    ids = []
    while (task := service.dequeue(worker, **filters)) is not None:  # type: ignore[arg-type]
        ids.append(task.id)
    return ids



def test_claim_marks_the_task_running_with_a_lease(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha", {"n": 1})
    assert task.status is TaskStatus.PENDING

    lease = queue.dequeue("worker-7", lease_s=30)

    assert lease is not None and lease.id == task.id and lease.token
    claimed = lease.task
    assert claimed.status is TaskStatus.RUNNING
    assert claimed.attempts == 1
    assert claimed.lease_owner == "worker-7"
    assert claimed.started_at == at(clock.now)
    assert claimed.lease_expires_at == at(clock.now + 30)
    assert claimed.payload == {"n": 1}
    assert queue.get(task.id) == claimed
    assert queue.dequeue("worker-7") is None


def test_empty_queue_gives_none(queue: TaskQueueService) -> None:
    assert queue.dequeue("w1") is None


def test_higher_priority_first(queue: TaskQueueService) -> None:
    low = queue.enqueue("alpha", priority=1)
    mid = queue.enqueue("alpha", priority=3)
    high = queue.enqueue("alpha", priority=5)
    also_low = queue.enqueue("alpha", priority=1)

    assert claim_all(queue) == [high.id, mid.id, low.id, also_low.id]


def test_fifo_within_a_priority_by_scheduled_for_then_id(queue: TaskQueueService, clock: FakeClock) -> None:
    earlier = at(clock.now - 10)
    a = queue.enqueue("alpha")  # scheduled now
    b = queue.enqueue("alpha", scheduled_for=earlier)
    c = queue.enqueue("beta")  # scheduled now, after a
    d = queue.enqueue("beta", scheduled_for=earlier)  # same time as b, larger id
    # An even earlier task of a lower priority still waits for every priority-3 task.
    e = queue.enqueue("alpha", priority=2, scheduled_for=at(clock.now - 1000))

    assert claim_all(queue) == [b.id, d.id, a.id, c.id, e.id]


def test_future_task_waits_until_its_time(queue: TaskQueueService, clock: FakeClock) -> None:
    later = queue.enqueue("alpha", priority=5, scheduled_for=at(clock.now + 30))
    now = queue.enqueue("alpha", priority=1)

    assert queue.dequeue("w1").id == now.id  # type: ignore[union-attr]
    assert queue.dequeue("w1") is None

    clock.advance(29.5)
    assert queue.dequeue("w1") is None

    clock.advance(0.5)  # scheduled_for == now: due
    claimed = queue.dequeue("w1")
    assert claimed is not None and claimed.id == later.id


def test_blocked_task_is_not_claimed_until_its_dependency_completes(queue: TaskQueueService) -> None:
    first = queue.enqueue("alpha", priority=1)
    blocked = queue.enqueue("alpha", priority=5, depends_on=[first.id])
    assert blocked.status is TaskStatus.BLOCKED

    claimed = queue.dequeue("w1")
    assert claimed is not None and claimed.id == first.id
    assert queue.dequeue("w1") is None
    assert queue.get(blocked.id).status is TaskStatus.BLOCKED

    queue.complete(first.id, claimed.token)
    assert queue.get(blocked.id).status is TaskStatus.PENDING
    assert queue.dequeue("w1").id == blocked.id  # type: ignore[union-attr]


def test_global_pause_stops_claims_and_resume_restores_them(queue: TaskQueueService) -> None:
    task = queue.enqueue("alpha")
    assert queue.is_paused() is False

    queue.pause()
    assert queue.is_paused() is True
    assert queue.stats().paused is True
    assert queue.dequeue("w1") is None
    assert queue.dequeue("w1", agents=["alpha"]) is None
    assert queue.get(task.id).status is TaskStatus.PENDING
    # The agents themselves are not marked paused by a global pause.
    assert queue.is_paused("alpha") is False

    queue.resume()
    assert queue.is_paused() is False
    assert queue.stats().paused is False
    assert queue.dequeue("w1").id == task.id  # type: ignore[union-attr]


def test_agent_pause_stops_only_that_agent(queue: TaskQueueService) -> None:
    a1 = queue.enqueue("alpha", priority=5)
    b1 = queue.enqueue("beta", priority=1)

    queue.pause("alpha")
    assert queue.is_paused("alpha") is True
    assert queue.get_agent("alpha").paused is True
    assert queue.is_paused("beta") is False
    assert queue.is_paused() is False

    assert queue.dequeue("w1").id == b1.id  # type: ignore[union-attr]
    assert queue.dequeue("w1") is None
    assert queue.dequeue("w1", agents=["alpha"]) is None

    queue.resume("alpha")
    assert queue.is_paused("alpha") is False
    assert queue.dequeue("w1").id == a1.id  # type: ignore[union-attr]


def test_agent_resume_does_not_lift_a_global_pause(queue: TaskQueueService) -> None:
    task = queue.enqueue("alpha")
    queue.pause("alpha")
    queue.pause()

    queue.resume("alpha")
    assert queue.dequeue("w1") is None

    queue.resume()
    assert queue.dequeue("w1").id == task.id  # type: ignore[union-attr]


def test_pause_of_an_unknown_agent_is_refused(queue: TaskQueueService) -> None:
    with pytest.raises(NotFoundError):
        queue.pause("ghost")
    with pytest.raises(NotFoundError):
        queue.resume("ghost")
    with pytest.raises(NotFoundError):
        queue.is_paused("ghost")


def test_agent_at_its_concurrency_limit_is_skipped(service: TaskQueueService) -> None:
    service.add_agent("single", "echo", concurrency=1)
    service.add_agent("other", "echo", concurrency=1)
    s1 = service.enqueue("single", priority=5)
    s2 = service.enqueue("single", priority=5)
    o1 = service.enqueue("other", priority=1)

    first = service.dequeue("w1")
    assert first is not None and first.id == s1.id
    # s2 outranks o1, but "single" has no free slot.
    assert service.dequeue("w2").id == o1.id  # type: ignore[union-attr]
    assert service.dequeue("w3") is None

    service.complete(s1.id, first.token)
    assert service.dequeue("w3").id == s2.id  # type: ignore[union-attr]


def test_concurrency_counts_running_tasks(service: TaskQueueService) -> None:
    service.add_agent("pair", "echo", concurrency=2)
    ids = [service.enqueue("pair").id for _ in range(3)]

    assert claim_all(service) == ids[:2]
    service.update_agent("pair", concurrency=3)
    assert claim_all(service) == ids[2:]


def test_dequeue_agents_filter(queue: TaskQueueService) -> None:
    a = queue.enqueue("alpha", priority=5)
    b = queue.enqueue("beta", priority=1)

    assert queue.dequeue("w1", agents=["ghost"]) is None
    assert queue.dequeue("w1", agents=[]) is None
    assert queue.dequeue("w1", agents=["beta"]).id == b.id  # type: ignore[union-attr]
    assert queue.dequeue("w1", agents=["beta"]) is None
    assert queue.dequeue("w1", agents=["alpha", "beta"]).id == a.id  # type: ignore[union-attr]


def test_dequeue_task_types_filter(queue: TaskQueueService) -> None:
    untyped = queue.enqueue("alpha", priority=5)
    build = queue.enqueue("alpha", task_type="build", priority=4)
    test = queue.enqueue("beta", task_type="test", priority=3)
    test2 = queue.enqueue("alpha", task_type="test", priority=2)

    assert queue.dequeue("w1", task_types=["deploy"]) is None
    assert queue.dequeue("w1", task_types=[]) is None
    assert claim_all(queue, task_types=["test"]) == [test.id, test2.id]
    assert queue.dequeue("w1", task_types=["test", "build"]).id == build.id  # type: ignore[union-attr]
    assert queue.dequeue("w1", task_types=["test", "build"]) is None
    assert queue.dequeue("w1").id == untyped.id  # type: ignore[union-attr]


def test_dequeue_agent_and_type_filters_combine(queue: TaskQueueService) -> None:
    queue.enqueue("alpha", task_type="test")
    beta_build = queue.enqueue("beta", task_type="build")
    beta_test = queue.enqueue("beta", task_type="test")

    claimed = queue.dequeue("w1", agents=["beta"], task_types=["test"])
    assert claimed is not None and claimed.id == beta_test.id
    assert queue.dequeue("w1", agents=["beta"], task_types=["test"]) is None
    assert queue.get(beta_build.id).status is TaskStatus.PENDING


def test_peek_lists_ready_tasks_in_claim_order_without_claiming(queue: TaskQueueService, clock: FakeClock) -> None:
    running = queue.enqueue("beta", priority=5, task_type="first")
    assert queue.dequeue("w1", task_types=["first"]).id == running.id  # type: ignore[union-attr]
    low = queue.enqueue("alpha", priority=1)
    high_late = queue.enqueue("beta", priority=5)
    high_early = queue.enqueue("alpha", priority=5, scheduled_for=at(clock.now - 60))
    mid = queue.enqueue("alpha", priority=3)
    blocked = queue.enqueue("alpha", priority=5, depends_on=[low.id])

    peeked = [t.id for t in queue.peek()]
    assert peeked == [high_early.id, high_late.id, mid.id, low.id]
    assert blocked.id not in peeked and running.id not in peeked
    assert all(queue.get(i).status is TaskStatus.PENDING for i in peeked)
    assert [t.id for t in queue.peek(limit=2)] == peeked[:2]

    assert claim_all(queue) == peeked


def test_peek_includes_retrying_tasks(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha", priority=2)
    claimed = queue.dequeue("w1")
    queue.fail(task.id, claimed.token, "boom")  # type: ignore[union-attr]
    clock.advance(60)  # the backoff has passed
    other = queue.enqueue("alpha", priority=1)

    assert [(t.id, t.status) for t in queue.peek()] == [
        (task.id, TaskStatus.RETRYING),
        (other.id, TaskStatus.PENDING),
    ]
    assert claim_all(queue) == [task.id, other.id]


def test_peek_puts_tasks_that_are_not_due_after_those_that_are(queue: TaskQueueService, clock: FakeClock) -> None:
    backoff = queue.enqueue("alpha", priority=4)
    claimed = queue.dequeue("w1")
    queue.fail(backoff.id, claimed.token, "boom")  # type: ignore[union-attr]
    later = queue.enqueue("alpha", priority=5, scheduled_for=at(clock.now + 30))
    ready = queue.enqueue("alpha", priority=1)

    # In the order dequeue() hands them out: the due task now, the others when their time comes.
    assert [t.id for t in queue.peek()] == [ready.id, later.id, backoff.id]
    assert queue.dequeue("w1").id == ready.id  # type: ignore[union-attr]
    clock.advance(60)
    assert [t.id for t in queue.peek()] == [later.id, backoff.id]
    assert claim_all(queue) == [later.id, backoff.id]


def test_peek_ignores_pauses(queue: TaskQueueService) -> None:
    task = queue.enqueue("alpha")
    queue.pause()
    queue.pause("alpha")
    assert [t.id for t in queue.peek()] == [task.id]
    assert queue.dequeue("w1") is None


def test_claim_uses_the_lease_length_given(queue: TaskQueueService, clock: FakeClock) -> None:
    queue.enqueue("alpha")
    claimed = queue.dequeue("w1", lease_s=5)
    assert claimed is not None
    assert claimed.task.lease_expires_at - claimed.task.started_at == timedelta(seconds=5)  # type: ignore[operator]
