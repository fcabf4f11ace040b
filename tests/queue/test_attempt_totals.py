"""The attempt ledger: statistics counted from attempts as they end, which cleanup never lowers."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from desktop.queue import Settlement, TaskQueueService, TaskStatus
from tests.conftest import FakeClock


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("alpha", "echo", concurrency=5)
    service.add_agent("beta", "echo", concurrency=5)
    service.add_repo("app", source="/src/app", local_path="/src/app", max_parallel=2)
    return service


def run(queue: TaskQueueService, task_id: int, *, fail: str | None = None, cost: float | None = None) -> None:
    claim = queue.dequeue("w1")
    assert claim is not None and claim.id == task_id
    details = None if cost is None else {"cost_usd": cost, "input_tokens": 100, "output_tokens": 10}
    if fail is None:
        queue.complete(claim.id, claim.token, details=details)
    else:
        queue.fail(claim.id, claim.token, fail, details=details)


def ledger_rows(queue: TaskQueueService) -> dict[tuple[str, str], int]:
    with queue.engine.connect() as conn:
        rows = conn.execute(text("SELECT agent, outcome, sum(attempts) FROM attempt_totals GROUP BY agent, outcome"))
        return {(agent, outcome): int(count) for agent, outcome, count in rows}


def test_a_retry_that_succeeds_keeps_the_earlier_failure_counted(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha", max_retries=2, retry_base_s=1)
    run(queue, task.id, fail="flaky")
    assert queue.get(task.id).status is TaskStatus.RETRYING
    clock.advance(5)
    run(queue, task.id)
    stats = queue.stats()
    assert stats.by_status["completed"] == 1 and stats.by_status["failed"] == 0  # the task, as it is now
    assert (stats.processed, stats.succeeded, stats.failed) == (2, 1, 1)  # every attempt, as it ended
    assert stats.overall_success_rate == pytest.approx(0.5)
    assert stats.success_rate == pytest.approx(0.5) and stats.throughput_last_hour == 1
    assert stats.last_finished_at is not None and stats.last_finished_at.timestamp() == pytest.approx(clock.now)
    # A manual retry of a failed task: its failure stays too.
    other = queue.enqueue("beta", max_retries=0)
    run(queue, other.id, fail="broken")
    queue.retry(other.id)
    run(queue, other.id)
    assert (queue.stats().succeeded, queue.stats().failed) == (2, 2)
    # The chart counts attempts too, in each range.
    for bucket_s, buckets in ((60.0, 60), (3600.0, 24), (21_600.0, 28)):
        series = queue.throughput(bucket_s, buckets)
        assert len(series) == buckets and series[-1][1:] == (2, 2), bucket_s


def test_cleanup_lowers_no_total(queue: TaskQueueService, clock: FakeClock) -> None:
    for n in range(3):
        task = queue.enqueue("alpha", max_retries=0)
        run(queue, task.id, fail="broken" if n == 0 else None)
    before = (queue.stats().attempts, queue.attempt_totals())
    assert before[0] == {"completed": 2, "failed": 1}
    clock.advance(2 * 86_400)
    assert queue.cleanup(86_400) == 3
    assert queue.list_tasks() == [] and queue.attempts(task.id) == []
    assert (queue.stats().attempts, queue.attempt_totals()) == before
    assert queue.stats().by_status["completed"] == 0  # the tasks' own counts do follow the rows


def test_totals_are_kept_per_hour_agent_repository_and_outcome(queue: TaskQueueService, clock: FakeClock) -> None:
    first = queue.enqueue("alpha", repo="app")
    run(queue, first.id, cost=0.25)
    clock.advance(3600)
    second = queue.enqueue("alpha", max_retries=0)
    run(queue, second.id, fail="no", cost=0.5)
    lost = queue.enqueue("beta", max_retries=0)
    assert queue.dequeue("w2") is not None
    clock.advance(3600)  # its lease expires: the rescuer logs the attempt as lost
    queue.recover_expired_leases()
    with queue.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT bucket, agent, repo, outcome, attempts, cost_usd, input_tokens, output_tokens "
            "FROM attempt_totals ORDER BY bucket, agent"
        )).all()
    hour = int(clock.now - 7200) // 3600 * 3600
    assert [tuple(r) for r in rows] == [
        (hour, "alpha", "app", "completed", 1, 0.25, 100, 10),
        (hour + 3600, "alpha", "", "failed", 1, 0.5, 100, 10),
        (hour + 7200, "beta", "", "lost", 1, 0.0, 0, 0),
    ]
    assert queue.get(lost.id).status is TaskStatus.FAILED
    assert queue.stats().failed == 2 and queue.stats().processed == 3
    assert [(a, o, n) for a, o, n, _ in queue.attempt_totals()] == [
        ("alpha", "completed", 1), ("alpha", "failed", 1), ("beta", "lost", 1)
    ]


def test_the_ledger_adds_up_attempts_written_in_one_batch(queue: TaskQueueService) -> None:
    ids = [t.id for t in queue.enqueue_many([{"agent": "alpha"} for _ in range(5)])]
    claims = queue.dequeue_many("w1", 5)
    assert sorted(c.id for c in claims) == ids

    queue.settle_many([
        Settlement.complete(c.id, c.token) if n % 2 else Settlement.fail(c.id, c.token, "x", retryable=False)
        for n, c in enumerate(claims)
    ])
    assert ledger_rows(queue) == {("alpha", "completed"): 2, ("alpha", "failed"): 3}


def test_cost_today_and_over_seven_days_per_agent_and_repository(queue: TaskQueueService, clock: FakeClock) -> None:
    def costs() -> tuple[list[tuple[str, float, float, float]], list[tuple[str, float, float, float]]]:
        ledger = queue.ledger()
        return (
            [(x.key, x.today_usd, x.week_usd, x.cost_usd) for x in ledger.by_agent],
            [(x.key, x.today_usd, x.week_usd, x.cost_usd) for x in ledger.by_repo],
        )

    run(queue, queue.enqueue("alpha", repo="app").id, cost=0.25)
    run(queue, queue.enqueue("beta").id)  # reports no cost: not listed
    assert costs() == ([("alpha", 0.25, 0.25, 0.25)], [("app", 0.25, 0.25, 0.25)])
    clock.advance(2 * 86_400)
    run(queue, queue.enqueue("alpha").id, cost=0.5)
    assert costs() == ([("alpha", 0.5, 0.75, 0.75)], [("app", 0.0, 0.25, 0.25)])
    clock.advance(8 * 86_400)
    run(queue, queue.enqueue("alpha", max_retries=0).id, fail="over", cost=1.0)  # a failure costs too
    assert queue.cleanup(86_400) == 3  # the first three tasks' history goes; their cost stays counted
    assert costs() == ([("alpha", 1.0, 1.0, 1.75)], [("app", 0.0, 0.0, 0.25)])
