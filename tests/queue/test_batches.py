"""Claims and settles in batches, attempts written once when they end, parking, attempt details."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from desktop.queue import (
    Claim,
    LeaseLostError,
    Settlement,
    Task,
    TaskQueueService,
    TaskStatus,
    TaskValidationError,
)
from tests.conftest import FakeClock
from tests.queue.helpers import at, claim


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("echo", "echo", concurrency=100)
    return service


def attempt_rows(service: TaskQueueService, task_id: int) -> int:
    with service.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM task_attempts WHERE task_id = {task_id}")).scalar_one())


# -- dequeue_many ---------------------------------------------------------------------------------


def test_dequeue_many_claims_up_to_the_limit_in_claim_order(queue: TaskQueueService, clock: FakeClock) -> None:
    low = queue.enqueue("echo", priority=1)
    later = queue.enqueue("echo", priority=5, scheduled_for=at(clock.now + 60))
    high = [queue.enqueue("echo", priority=5) for _ in range(3)]
    mid = queue.enqueue("echo", priority=3)

    claims = queue.dequeue_many("w", 4, lease_s=30)

    assert [c.id for c in claims] == [*(t.id for t in high), mid.id]
    assert len({c.token for c in claims}) == 4, "every claim has its own token"
    assert all(c.task.status is TaskStatus.RUNNING and c.task.lease_owner == "w" for c in claims)
    assert all(c.task.lease_expires_at == at(clock.now + 30) for c in claims)
    assert [c.id for c in queue.dequeue_many("w", 10)] == [low.id]
    assert queue.get(later.id).status is TaskStatus.PENDING


def test_dequeue_many_counts_agent_limits_and_lock_capacities_within_the_batch(service: TaskQueueService) -> None:
    service.add_agent("pair", "echo", concurrency=2)
    service.add_agent("many", "echo", concurrency=50)
    service.set_lock_capacity("repo:a", 2)
    pair = [service.enqueue("pair", priority=5) for _ in range(3)]
    keyed = [service.enqueue("many", priority=4, lock_key="repo:a") for _ in range(3)]
    solo = [service.enqueue("many", priority=3, lock_key="repo:b") for _ in range(2)]
    free = service.enqueue("many", priority=1)

    claimed = {c.id for c in service.dequeue_many("w", 20)}

    assert claimed == {pair[0].id, pair[1].id, keyed[0].id, keyed[1].id, solo[0].id, free.id}
    assert service.dequeue_many("w", 20) == []


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 1.5])
def test_dequeue_many_refuses_a_bad_limit(queue: TaskQueueService, limit: object) -> None:
    with pytest.raises(TaskValidationError) as caught:
        queue.dequeue_many("w", limit)  # type: ignore[arg-type]
    assert caught.value.field == "limit"


# -- settle_many ----------------------------------------------------------------------------------


def test_settle_many_ends_each_attempt_its_own_way_and_refuses_only_the_bad_ones(
    queue: TaskQueueService, clock: FakeClock
) -> None:
    tasks = [queue.enqueue("echo", max_retries=1) for _ in range(6)]
    claims = {c.id: c for c in queue.dequeue_many("w", 6)}
    done, flaky, broken, given_back, parked, stale = (claims[t.id] for t in tasks)
    queue.cancel(broken.id)

    results = queue.settle_many(
        [
            Settlement.complete(done.id, done.token, {"ok": 1}, output_tail="done out"),
            Settlement.fail(flaky.id, flaky.token, "flaky", traceback="tb"),
            Settlement.fail(broken.id, broken.token, "stopped", retryable=False),
            Settlement.release(given_back.id, given_back.token),
            Settlement.park(parked.id, parked.token, clock.now + 3600, "usage limit until later"),
            Settlement.complete(stale.id, "not-the-token"),
            Settlement.complete(done.id, done.token),  # twice in one batch: the second is refused
            Settlement.complete(stale.id, stale.token, result=object()),  # not JSON
        ]
    )

    statuses = [r.status if isinstance(r, Task) else type(r) for r in results]
    assert statuses == [
        TaskStatus.COMPLETED, TaskStatus.RETRYING, TaskStatus.CANCELLED, TaskStatus.PENDING, TaskStatus.RETRYING,
        LeaseLostError, LeaseLostError, TaskValidationError,
    ]
    assert results[0].result == {"ok": 1}  # type: ignore[union-attr]
    assert queue.get(stale.id).status is TaskStatus.RUNNING, "refused items write nothing"
    outcomes = {t.id: [a.outcome for a in queue.attempts(t.id)] for t in tasks}
    assert outcomes == {
        done.id: ["completed"], flaky.id: ["failed"], broken.id: ["cancelled"], given_back.id: ["interrupted"],
        parked.id: ["parked"], stale.id: ["running"],
    }
    assert queue.attempts(done.id)[0].output_tail == "done out"


def test_settle_and_claim_lets_the_claim_take_what_the_settle_freed(service: TaskQueueService) -> None:
    service.add_agent("one", "echo", concurrency=1)
    first, second = service.enqueue("one"), service.enqueue("one")
    lease = claim(service, first.id)
    assert service.dequeue("w2") is None

    results, claims = service.settle_and_claim([Settlement.complete(first.id, lease.token)], "w2", 5)

    assert [r.status for r in results] == [TaskStatus.COMPLETED]  # type: ignore[union-attr]
    assert [c.id for c in claims] == [second.id]


def test_a_task_given_back_unstarted_is_pending_again_with_nothing_counted_or_logged(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo", lock_key="repo:k")
    lease = claim(queue, task.id)

    [back] = queue.settle_many([Settlement.unstarted(lease.id, lease.token)])

    assert isinstance(back, Task) and back.status is TaskStatus.PENDING and back.attempts == 0
    assert attempt_rows(queue, task.id) == 0 and queue.attempts(task.id) == []
    assert queue.locks() == [], "its lock key is free again"
    again = claim(queue, task.id)
    [stale] = queue.settle_many([Settlement.unstarted(lease.id, lease.token)])
    assert isinstance(stale, LeaseLostError), "the old claim's token no longer gives it back"
    queue.complete(again.id, again.token)
    assert [a.outcome for a in queue.attempts(task.id)] == ["completed"]


def test_a_cancel_requested_while_a_task_waited_unstarted_wins(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = claim(queue, task.id)
    queue.cancel(task.id)

    [back] = queue.settle_many([Settlement.unstarted(lease.id, lease.token)])

    assert isinstance(back, Task) and back.status is TaskStatus.CANCELLED
    assert attempt_rows(queue, task.id) == 0


# -- attempts written once ------------------------------------------------------------------------


def test_a_running_attempt_lives_on_the_task_row_until_it_ends(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    lease = claim(queue, task.id, "w7")
    queue.heartbeat(lease.id, lease.token, output_tail="line 1\nline 2")

    [running] = queue.attempts(task.id)
    assert attempt_rows(queue, task.id) == 0
    assert (running.id, running.number, running.outcome, running.worker_id) == (None, 1, "running", "w7")
    assert running.output_tail == "line 1\nline 2" and running.started_at == at(clock.now)

    clock.advance(2.5)
    queue.complete(task.id, lease.token)
    [ended] = queue.attempts(task.id)
    assert attempt_rows(queue, task.id) == 1
    assert ended.id is not None and ended.outcome == "completed" and ended.duration_ms == 2500
    assert ended.output_tail == "line 1\nline 2"  # the heartbeat's tail, as no newer one was given


def test_attempts_are_numbered_across_manual_retries(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo", max_retries=0)
    queue.fail(task.id, claim(queue, task.id).token, "first")
    queue.retry(task.id)
    lease = claim(queue, task.id)
    assert [(a.number, a.outcome) for a in queue.attempts(task.id)] == [(1, "failed"), (2, "running")]
    queue.complete(task.id, lease.token)
    assert [(a.number, a.outcome) for a in queue.attempts(task.id)] == [(1, "failed"), (2, "completed")]


def test_details_host_and_process_are_saved_with_the_attempt_however_it_ends(queue: TaskQueueService) -> None:
    details = {
        "cost_usd": 0.25, "input_tokens": 1200, "output_tokens": 300, "cached_tokens": 50,
        "session_id": "abc", "turns": 4, "final_message": "done",
    }
    ends = {
        "completed": lambda c: queue.complete(c.id, c.token, details=details),
        "failed": lambda c: queue.fail(c.id, c.token, "x", retryable=False, details=details),
        "interrupted": lambda c: queue.release(c.id, c.token, details=details),
        "parked": lambda c: queue.park(c.id, c.token, queue.clock() + 60, "limit", details=details),
    }
    for outcome, end in ends.items():
        task = queue.enqueue("echo")
        lease = claim(queue, task.id)
        queue.record_process(lease.id, lease.token, pid=4321, host="box-1")
        end(lease)
        attempt = queue.attempts(task.id)[0]
        assert attempt.outcome == outcome
        assert (attempt.cost_usd, attempt.input_tokens, attempt.output_tokens, attempt.cached_tokens) == (0.25, 1200, 300, 50)
        assert attempt.details == {"session_id": "abc", "turns": 4, "final_message": "done"}
        assert (attempt.host, attempt.pid) == ("box-1", 4321)
        if queue.get(task.id).status is TaskStatus.PENDING:  # the released one: out of the way
            queue.cancel(task.id)


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"cost_usd": -1}, "details.cost_usd"),
        ({"cost_usd": float("nan")}, "details.cost_usd"),
        ({"input_tokens": 1.5}, "details.input_tokens"),
        ({"output_tokens": -3}, "details.output_tokens"),
        ({"turns": object()}, "details"),
        ({1: "x"}, "details"),
    ],
)
def test_bad_details_are_refused_naming_the_key_and_nothing_is_written(
    queue: TaskQueueService, details: dict[object, object], field: str
) -> None:
    task = queue.enqueue("echo")
    lease = claim(queue, task.id)
    with pytest.raises(TaskValidationError) as caught:
        queue.complete(task.id, lease.token, details=details)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert queue.get(task.id).status is TaskStatus.RUNNING and attempt_rows(queue, task.id) == 0


def test_record_process_needs_the_lease(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = claim(queue, task.id)
    with pytest.raises(LeaseLostError):
        queue.record_process(task.id, "stale", pid=1)
    with pytest.raises(TaskValidationError):
        queue.record_process(task.id, lease.token, pid=-5)


# -- parking at a usage limit ---------------------------------------------------------------------


def test_a_parked_task_waits_until_then_runs_without_losing_a_retry(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo", max_retries=0)
    lease = claim(queue, task.id)

    parked = queue.park(task.id, lease.token, clock.now + 600, "rate limited: resets at 12:10")

    assert parked.status is TaskStatus.RETRYING and parked.attempts == 0
    assert parked.scheduled_for == at(clock.now + 600) and "12:10" in (parked.last_error or "")
    clock.advance(599)
    assert queue.dequeue("w") is None
    clock.advance(1)
    again = claim(queue, task.id)
    assert again.task.attempts == 1  # max_retries=0 still allows this attempt
    assert queue.complete(task.id, again.token).status is TaskStatus.COMPLETED
    assert [a.outcome for a in queue.attempts(task.id)] == ["parked", "completed"]


@pytest.mark.parametrize("until", [float("inf"), float("nan"), -1e20, 1e20, "tomorrow", None])
def test_park_refuses_a_time_a_datetime_cannot_hold(queue: TaskQueueService, until: object) -> None:
    task = queue.enqueue("echo")
    lease = claim(queue, task.id)
    with pytest.raises(TaskValidationError) as caught:
        queue.park(task.id, lease.token, until, "limit")  # type: ignore[arg-type]
    assert caught.value.field == "until"
    assert queue.get(task.id).status is TaskStatus.RUNNING


def test_a_cancel_requested_while_running_wins_over_a_park_or_a_release(queue: TaskQueueService) -> None:
    for end in (lambda c: queue.park(c.id, c.token, queue.clock() + 60, "limit"), lambda c: queue.release(c.id, c.token)):
        task = queue.enqueue("echo")
        lease: Claim = claim(queue, task.id)
        queue.cancel(task.id)
        assert end(lease).status is TaskStatus.CANCELLED
