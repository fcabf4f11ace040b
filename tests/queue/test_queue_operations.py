"""Queue operations a user asks for: run now, priority, manual order, the backlog, retry by
filter, escalating retries, backpressure and the worker roster (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from desktop.errors import QueueFullError
from desktop.queue import Beat, TaskQueueService, TaskStateError, TaskStatus, TaskValidationError
from tests.conftest import FakeClock
from tests.queue.helpers import at


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("alpha", "echo", concurrency=50)
    service.add_agent("beta", "echo", concurrency=50)
    return service


def claim_order(service: TaskQueueService) -> list[int]:
    ids = []
    while (claim := service.dequeue("w1")) is not None:
        ids.append(claim.id)
    return ids


def test_run_now_puts_a_task_ahead_of_every_other_ready_task(queue: TaskQueueService, clock: FakeClock) -> None:
    high = queue.enqueue("alpha", priority=5)
    low = queue.enqueue("alpha", priority=1)
    later = queue.enqueue("beta", scheduled_for=at(clock.now + 3600))
    middle = queue.enqueue("alpha", priority=3)

    queue.run_now(low.id)
    moved = queue.run_now(later.id)

    assert moved.status is TaskStatus.PENDING and moved.priority == 5
    assert moved.scheduled_for.timestamp() == clock.now
    assert claim_order(queue) == [later.id, low.id, high.id, middle.id]


def test_run_now_releases_a_backlogged_task_and_refuses_blocked_running_and_finished(queue: TaskQueueService) -> None:
    parked = queue.enqueue("alpha", backlog=True)
    assert parked.status is TaskStatus.BACKLOGGED
    assert queue.run_now(parked.id).status is TaskStatus.PENDING

    parent = queue.enqueue("alpha")
    child = queue.enqueue("alpha", depends_on=[parent.id])
    with pytest.raises(TaskStateError, match="blocked"):
        queue.run_now(child.id)
    running = queue.dequeue("w1")
    assert running is not None
    with pytest.raises(TaskStateError, match="is running: cannot run now"):
        queue.run_now(running.id)
    queue.complete(running.id, running.token)
    with pytest.raises(TaskStateError, match="retry it instead"):
        queue.run_now(running.id)


def test_move_to_top_and_bottom_orders_within_a_priority_only(queue: TaskQueueService) -> None:
    a, b, c = (queue.enqueue("alpha") for _ in range(3))
    urgent = queue.enqueue("alpha", priority=4)

    queue.move(c.id, top=True)
    queue.move(a.id, top=False)

    assert queue.peek(10)[0].id == urgent.id  # a higher priority still runs first
    assert claim_order(queue) == [urgent.id, c.id, b.id, a.id]


def test_moving_twice_keeps_the_newest_move_first(queue: TaskQueueService) -> None:
    a, b, c = (queue.enqueue("alpha") for _ in range(3))
    queue.move(b.id, top=True)
    queue.move(c.id, top=True)
    queue.move(b.id, top=False)
    queue.move(a.id, top=False)
    assert claim_order(queue) == [c.id, b.id, a.id]


def test_priority_of_a_waiting_task_changes_and_a_bad_one_is_refused(queue: TaskQueueService) -> None:
    first, second = queue.enqueue("alpha"), queue.enqueue("alpha")
    assert queue.set_priority(second.id, 5).priority == 5
    with pytest.raises(TaskValidationError, match="priority: must be an integer from 1 to 5"):
        queue.set_priority(first.id, 9)
    assert queue.get(first.id).priority == 3
    assert claim_order(queue) == [second.id, first.id]
    with pytest.raises(TaskStateError, match="is running: cannot change the priority"):
        queue.set_priority(first.id, 1)


def test_a_backlogged_task_is_kept_counted_and_never_claimed_until_released(queue: TaskQueueService) -> None:
    kept = queue.enqueue("alpha", backlog=True, unique_key="u1")
    other = queue.enqueue("alpha")
    later = queue.backlog(other.id)
    assert later.status is TaskStatus.BACKLOGGED

    assert queue.dequeue("w1") is None
    assert queue.enqueue("alpha", unique_key="u1").id == kept.id  # its unique key is still taken
    stats = queue.stats()
    assert stats.by_status["backlogged"] == 2 and stats.by_agent["alpha"]["backlogged"] == 2
    assert queue.count_tasks(status="backlogged") == 2

    with pytest.raises(TaskStateError, match="already backlogged"):
        queue.backlog(kept.id)
    assert queue.release_backlogged(kept.id).status is TaskStatus.PENDING
    with pytest.raises(TaskStateError, match="not backlogged"):
        queue.release_backlogged(kept.id)
    assert claim_order(queue) == [kept.id]


def test_a_released_task_with_unfinished_dependencies_is_blocked_and_a_failed_one_cancels_it(
    queue: TaskQueueService,
) -> None:
    parent = queue.enqueue("alpha", max_retries=0)
    child = queue.enqueue("alpha", depends_on=[parent.id], backlog=True)
    assert queue.release_backlogged(child.id).status is TaskStatus.BLOCKED
    queue.backlog(child.id)

    claim = queue.dequeue("w1")
    assert claim is not None and claim.id == parent.id
    queue.fail(parent.id, claim.token, "boom")

    assert queue.get(child.id).status is TaskStatus.CANCELLED


def test_retry_matching_retries_every_failed_task_of_an_agent(queue: TaskQueueService) -> None:
    failed = []
    for agent in ("alpha", "alpha", "beta"):
        task = queue.enqueue(agent, max_retries=0)
        claim = queue.dequeue("w1")
        assert claim is not None and claim.id == task.id
        queue.fail(task.id, claim.token, "boom")
        failed.append(task.id)

    report = queue.retry_matching("failed", agent="alpha")

    assert [t.id for t in report.retried] == failed[:2] and report.refused == {}
    assert [queue.get(i).status for i in failed] == [TaskStatus.PENDING, TaskStatus.PENDING, TaskStatus.FAILED]
    with pytest.raises(TaskValidationError, match="status: must be failed, cancelled or retrying"):
        queue.retry_matching("completed")


def test_escalating_retries_raise_the_priority_one_level_up_to_five(queue: TaskQueueService, clock: FakeClock) -> None:
    queue.update_agent("alpha", escalate_priority=True)
    task = queue.enqueue("alpha", priority=3, max_retries=5, retry_base_s=0)
    plain = queue.enqueue("beta", priority=3, max_retries=5, retry_base_s=0)
    seen = []
    for _ in range(4):
        claim = queue.dequeue("w1", agents=["alpha"])
        assert claim is not None
        seen.append(queue.fail(task.id, claim.token, "boom").priority)
    claim = queue.dequeue("w1", agents=["beta"])
    assert claim is not None
    assert queue.fail(plain.id, claim.token, "boom").priority == 3

    assert seen == [4, 5, 5, 5]
    assert queue.get(task.id).priority == 5


def test_max_pending_refuses_an_enqueue_past_the_limit_and_writes_nothing(queue: TaskQueueService) -> None:
    queue.update_agent("alpha", max_pending=2)
    queue.enqueue("alpha")
    queue.enqueue("alpha", backlog=True)  # backlogged tasks wait too
    queue.enqueue("beta")

    with pytest.raises(QueueFullError, match=r"agent: agent 'alpha' already has its limit of 2 waiting tasks"):
        queue.enqueue("alpha")
    with pytest.raises(QueueFullError, match=r"items\[1\]\.agent"):
        queue.enqueue_many([{"agent": "beta"}, {"agent": "alpha"}])
    assert queue.count_tasks(agent="alpha") == 2 and queue.count_tasks(agent="beta") == 1

    claim = queue.dequeue("w1", agents=["alpha"])  # a running task no longer waits
    assert claim is not None
    queue.enqueue("alpha")
    with pytest.raises(TaskValidationError, match="max_pending: must be a whole number, 1 or more"):
        queue.update_agent("alpha", max_pending=0)


def test_max_pending_holds_under_concurrent_enqueues(queue: TaskQueueService) -> None:
    queue.update_agent("alpha", max_pending=5)
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def enqueue_some() -> None:
        start.wait()
        for _ in range(3):
            try:
                queue.enqueue("alpha")
                result = "ok"
            except QueueFullError:
                result = "full"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=enqueue_some) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("ok") == 5 and outcomes.count("full") == 19
    assert queue.count_tasks(agent="alpha") == 5


def test_the_roster_shows_live_stopped_and_gone_workers_by_their_heartbeats(
    queue: TaskQueueService, clock: FakeClock
) -> None:
    queue.worker_beat(Beat("w-live", "host-a", 11, 4, lease_s=30.0, running=2, completed=7, failed=1))
    queue.worker_beat(Beat("w-dead", "host-b", 12, 2, lease_s=30.0, running=1))
    queue.worker_beat(Beat("w-done", "host-a", 13, 1, lease_s=30.0))
    queue.worker_stopped("w-done")

    clock.advance(80)  # w-dead beats no more; w-live keeps beating
    queue.worker_beat(Beat("w-live", "host-a", 11, 4, lease_s=30.0, running=3, completed=9, failed=1))
    assert {w.id: w.state for w in queue.workers()} == {"w-live": "live", "w-dead": "live", "w-done": "stopped"}

    clock.advance(20)  # 100 s > three lease periods of 30 s
    workers = queue.workers()
    assert [(w.id, w.state) for w in workers] == [("w-live", "live"), ("w-dead", "gone"), ("w-done", "stopped")]
    live = workers[0]
    assert (live.host, live.pid, live.concurrency, live.running, live.completed, live.failed) == (
        "host-a", 11, 4, 3, 9, 1
    )
    assert next(w for w in workers if w.id == "w-dead").running == 0  # a gone worker runs nothing
