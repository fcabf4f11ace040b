"""Leases (tokens, heartbeats, expiry and recovery), failures, backoff and the attempt log."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from desktop.queue import (
    LeaseLostError,
    RetryPolicy,
    Task,
    TaskQueueService,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
)
from tests.conftest import FakeClock
from tests.queue.helpers import at, claim, token

# -- lease tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["wrong", "stale"])
def test_a_token_that_is_not_the_lease_changes_nothing(queue: TaskQueueService, clock: FakeClock, which: str) -> None:
    task = queue.enqueue("echo")
    first = claim(queue, task.id)
    if which == "wrong":
        bad = "0" * 32
    else:
        queue.fail(task.id, token(first), "boom")
        clock.advance(60)
        claim(queue, task.id, "w2")
        bad = token(first)
    before = (queue.get(task.id), queue.attempts(task.id))

    with pytest.raises(LeaseLostError):
        queue.heartbeat(task.id, bad, progress=50, message="halfway", output_tail="out")
    with pytest.raises(LeaseLostError):
        queue.complete(task.id, bad, {"ok": True}, output_tail="out")
    with pytest.raises(LeaseLostError):
        queue.fail(task.id, bad, "late failure", traceback="tb", output_tail="out")
    with pytest.raises(LeaseLostError):
        queue.fail(task.id, bad, "late failure", retryable=False)

    assert (queue.get(task.id), queue.attempts(task.id)) == before
    assert queue.get(task.id).status is TaskStatus.RUNNING


def test_a_finished_task_refuses_its_old_token(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))
    done = queue.complete(task.id, lease, {"answer": 42})
    assert done.status is TaskStatus.COMPLETED and done.result == {"answer": 42}
    assert done.lease_owner is None and done.lease_expires_at is None

    for call in (
        lambda: queue.heartbeat(task.id, lease),
        lambda: queue.complete(task.id, lease, {"answer": 0}),
        lambda: queue.fail(task.id, lease, "boom"),
    ):
        with pytest.raises(LeaseLostError):
            call()
    assert queue.get(task.id) == done


def test_heartbeat_renews_the_lease_and_records_progress(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id, lease_s=10))
    clock.advance(8)

    assert queue.heartbeat(task.id, lease, lease_s=30, progress=140, message="copying") is False

    now = queue.get(task.id)
    assert now.lease_expires_at == at(clock.now + 30)
    assert now.progress == 100  # clamped to 0..100
    assert now.progress_message == "copying"
    queue.heartbeat(task.id, lease, progress=-5)
    assert queue.get(task.id).progress == 0


def test_cancel_of_a_running_task_is_reported_by_heartbeat_and_fail_cancels(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))

    flagged = queue.cancel(task.id)
    assert flagged.status is TaskStatus.RUNNING and flagged.cancel_requested is True
    assert queue.heartbeat(task.id, lease) is True

    ended = queue.fail(task.id, lease, "stopped on request")
    assert ended.status is TaskStatus.CANCELLED
    assert ended.finished_at is not None
    assert queue.attempts(task.id)[-1].outcome == "cancelled"
    assert queue.dequeue("w1") is None  # not put back for a retry


# -- failures and backoff -------------------------------------------------------------------------


def test_default_backoff_doubles_then_fails_after_max_retries(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    assert (task.max_retries, task.retry_base_s, task.retry_cap_s) == (3, 60.0, 3600.0)

    for number, delay in enumerate([60, 120, 240], start=1):
        lease = token(claim(queue, task.id))
        failed = queue.fail(task.id, lease, f"failure {number}")
        assert failed.status is TaskStatus.RETRYING
        assert failed.attempts == number
        assert failed.scheduled_for == at(clock.now + delay)
        assert failed.last_error == f"failure {number}"
        assert failed.finished_at is None and failed.lease_owner is None
        clock.advance(delay - 1)
        assert queue.dequeue("w1") is None
        clock.advance(1)

    lease = token(claim(queue, task.id))
    final = queue.fail(task.id, lease, "failure 4")
    assert final.status is TaskStatus.FAILED
    assert final.attempts == 4
    assert final.finished_at == at(clock.now)
    assert final.last_error == "failure 4"
    assert [a.outcome for a in queue.attempts(task.id)] == ["failed"] * 4
    clock.advance(10_000)
    assert queue.dequeue("w1") is None


def test_non_retryable_failure_fails_at_once(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))

    failed = queue.fail(task.id, lease, "bad input", retryable=False)

    assert failed.status is TaskStatus.FAILED
    assert failed.attempts == 1
    assert failed.finished_at == at(clock.now)
    assert failed.last_error == "bad input"


def test_per_task_retry_settings_override_the_defaults(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo", max_retries=4, retry_base_s=10, retry_cap_s=25)
    delays = []
    for _ in range(4):
        failed = queue.fail(task.id, token(claim(queue, task.id)), "boom")
        assert failed.status is TaskStatus.RETRYING
        delays.append((failed.scheduled_for - at(clock.now)).total_seconds())
        clock.advance(delays[-1])
    assert delays == [10, 20, 25, 25]
    assert queue.fail(task.id, token(claim(queue, task.id)), "boom").status is TaskStatus.FAILED


def test_max_retries_zero_means_a_single_attempt(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo", max_retries=0)
    assert queue.fail(task.id, token(claim(queue, task.id)), "boom").status is TaskStatus.FAILED


def test_agent_retry_defaults_apply_and_task_settings_win(service: TaskQueueService, clock: FakeClock) -> None:
    service.add_agent("flaky", "echo", max_retries=1, retry_base_s=5, retry_cap_s=7)
    task = service.enqueue("flaky")
    assert (task.max_retries, task.retry_base_s, task.retry_cap_s) == (1, 5.0, 7.0)

    failed = service.fail(task.id, token(claim(service, task.id)), "boom")
    assert failed.scheduled_for == at(clock.now + 5)
    clock.advance(5)
    assert service.fail(task.id, token(claim(service, task.id)), "boom").status is TaskStatus.FAILED

    own = service.enqueue("flaky", max_retries=2, retry_base_s=1)
    assert (own.max_retries, own.retry_base_s, own.retry_cap_s) == (2, 1.0, 7.0)
    failed = service.fail(own.id, token(claim(service, own.id)), "boom")
    assert failed.status is TaskStatus.RETRYING
    assert failed.scheduled_for == at(clock.now + 1)


def test_jitter_comes_from_the_service_random_source(db_url: str, clock: FakeClock) -> None:
    with TaskQueueService.open(
        db_url, clock=clock, retry_policy=RetryPolicy(jitter=0.5), rand=lambda: 0.0
    ) as service:
        service.add_agent("echo", "echo")
        task = service.enqueue("echo")
        failed = service.fail(task.id, token(claim(service, task.id)), "boom")
        assert failed.scheduled_for == at(clock.now + 30)  # 60 s * (1 - 0.5)


# -- lease expiry and recovery --------------------------------------------------------------------


def test_recovery_puts_an_expired_task_back_for_a_retry(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    claim(queue, task.id, "dead-worker", lease_s=30)

    clock.advance(30)
    assert queue.recover_expired_leases() == []  # expires_at == now: not expired yet
    clock.advance(0.5)
    assert queue.recover_expired_leases() == [task.id]

    back = queue.get(task.id)
    assert back.status is TaskStatus.RETRYING
    assert back.scheduled_for == at(clock.now + 60)
    assert back.lease_owner is None and back.lease_expires_at is None
    assert back.last_error and "dead-worker" in back.last_error
    [attempt] = queue.attempts(task.id)
    assert attempt.outcome == "lost"
    assert attempt.worker_id == "dead-worker"
    assert attempt.finished_at == at(clock.now)
    assert attempt.duration_ms == 30_500
    assert attempt.error == back.last_error
    assert queue.recover_expired_leases() == []


def test_recovery_leaves_live_leases_alone(queue: TaskQueueService, clock: FakeClock) -> None:
    alive = queue.enqueue("echo")
    dead = queue.enqueue("echo")
    alive_lease = token(claim(queue, alive.id, "alive", lease_s=20))
    claim(queue, dead.id, "dead", lease_s=20)

    clock.advance(15)
    queue.heartbeat(alive.id, alive_lease, lease_s=20)
    clock.advance(10)

    assert queue.recover_expired_leases() == [dead.id]
    still = queue.get(alive.id)
    assert still.status is TaskStatus.RUNNING and still.lease_owner == "alive"
    assert [a.outcome for a in queue.attempts(alive.id)] == ["running"]
    assert queue.complete(alive.id, alive_lease).status is TaskStatus.COMPLETED


def test_recovery_fails_a_task_whose_retries_are_used_up(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo", max_retries=0)
    claim(queue, task.id, lease_s=10)
    clock.advance(11)

    assert queue.recover_expired_leases() == [task.id]

    gone = queue.get(task.id)
    assert gone.status is TaskStatus.FAILED
    assert gone.finished_at == at(clock.now)
    assert queue.attempts(task.id)[0].outcome == "lost"


def test_old_worker_cannot_finish_after_recovery_and_reclaim(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    old = token(claim(queue, task.id, "old", lease_s=10))
    clock.advance(11)
    queue.recover_expired_leases()
    clock.advance(60)
    new = token(claim(queue, task.id, "new"))
    assert new != old

    with pytest.raises(LeaseLostError):
        queue.complete(task.id, old, {"by": "old"})
    with pytest.raises(LeaseLostError):
        queue.heartbeat(task.id, old)

    done = queue.complete(task.id, new, {"by": "new"})
    assert done.status is TaskStatus.COMPLETED and done.result == {"by": "new"}
    assert [(a.worker_id, a.outcome) for a in queue.attempts(task.id)] == [
        ("old", "lost"),
        ("new", "completed"),
    ]


def test_recovery_of_a_task_with_a_cancel_request_cancels_it(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    claim(queue, task.id, "hung", lease_s=10)
    queue.cancel(task.id)
    clock.advance(11)

    assert queue.recover_expired_leases() == [task.id]

    assert queue.get(task.id).status is TaskStatus.CANCELLED
    assert queue.attempts(task.id)[0].outcome == "cancelled"
    clock.advance(3600)
    assert queue.dequeue("w1") is None


# -- the attempt log ------------------------------------------------------------------------------


def test_attempt_log_has_one_row_per_attempt(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    start1 = clock.now
    lease = token(claim(queue, task.id, "worker-1"))
    queue.heartbeat(task.id, lease, output_tail="step 1\n")

    [running] = queue.attempts(task.id)
    assert (running.number, running.worker_id, running.outcome) == (1, "worker-1", "running")
    assert running.finished_at is None and running.duration_ms is None
    assert running.output_tail == "step 1\n"

    clock.advance(1.5)
    queue.fail(task.id, lease, "boom", traceback="Traceback: boom", output_tail="out 1")
    clock.advance(60)
    start2 = clock.now
    lease = token(claim(queue, task.id, "worker-2"))
    clock.advance(0.25)
    queue.complete(task.id, lease, output_tail="out 2")

    first, second = queue.attempts(task.id)
    assert (first.task_id, first.number, first.worker_id) == (task.id, 1, "worker-1")
    assert (first.started_at, first.finished_at) == (at(start1), at(start1 + 1.5))
    assert first.duration_ms == 1500
    assert (first.outcome, first.error, first.traceback, first.output_tail) == (
        "failed", "boom", "Traceback: boom", "out 1",
    )
    assert (second.task_id, second.number, second.worker_id) == (task.id, 2, "worker-2")
    assert (second.started_at, second.finished_at) == (at(start2), at(start2 + 0.25))
    assert second.duration_ms == 250
    assert (second.outcome, second.error, second.traceback, second.output_tail) == (
        "completed", None, None, "out 2",
    )


def test_attempt_log_keeps_the_heartbeat_output_when_the_end_gives_none(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))
    queue.heartbeat(task.id, lease, output_tail="last lines")
    queue.complete(task.id, lease)
    assert queue.attempts(task.id)[0].output_tail == "last lines"


def test_attempt_logs_are_kept_per_task(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    b = queue.enqueue("echo")
    lease_a = token(claim(queue, a.id, "wa"))
    lease_b = token(claim(queue, b.id, "wb"))
    queue.fail(a.id, lease_a, "a broke", output_tail="a out")
    queue.complete(b.id, lease_b, output_tail="b out")

    assert [(x.worker_id, x.outcome, x.output_tail) for x in queue.attempts(a.id)] == [("wa", "failed", "a out")]
    assert [(x.worker_id, x.outcome, x.output_tail) for x in queue.attempts(b.id)] == [("wb", "completed", "b out")]


@pytest.mark.parametrize("seconds", [0.001, 0.004, 0.01, 0.1, 2.5])
def test_attempt_duration_is_rounded_to_the_millisecond(
    queue: TaskQueueService, clock: FakeClock, seconds: float
) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))
    clock.advance(seconds)
    queue.complete(task.id, lease)
    assert queue.attempts(task.id)[0].duration_ms == round(seconds * 1000)


# -- manual retry ---------------------------------------------------------------------------------


def _failed_for_good(queue: TaskQueueService, clock: FakeClock) -> Task:
    task = queue.enqueue("echo", max_retries=1)
    queue.fail(task.id, token(claim(queue, task.id)), "one")
    clock.advance(60)
    assert queue.fail(task.id, token(claim(queue, task.id)), "two").status is TaskStatus.FAILED
    return task


def test_retry_of_a_failed_task_runs_it_now_with_fresh_retries(queue: TaskQueueService, clock: FakeClock) -> None:
    task = _failed_for_good(queue, clock)
    clock.advance(1000)

    again = queue.retry(task.id)
    assert again.status is TaskStatus.PENDING
    assert again.attempts == 0
    assert again.scheduled_for == at(clock.now)
    assert again.finished_at is None

    lease = token(claim(queue, task.id))
    assert queue.get(task.id).attempts == 1
    # A fresh set of retries: this failure is retried, with the first backoff again.
    failed = queue.fail(task.id, lease, "three")
    assert failed.status is TaskStatus.RETRYING
    assert failed.scheduled_for == at(clock.now + 60)
    assert [a.number for a in queue.attempts(task.id)] == [1, 2, 3]


def test_retry_of_a_cancelled_task(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    queue.cancel(task.id)
    clock.advance(5)

    again = queue.retry(task.id)
    assert again.status is TaskStatus.PENDING and again.scheduled_for == at(clock.now)
    assert claim(queue, task.id).task.attempts == 1


def test_retry_of_a_retrying_task_skips_the_backoff(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo")
    queue.fail(task.id, token(claim(queue, task.id)), "boom")
    assert queue.dequeue("w1") is None

    again = queue.retry(task.id)
    assert again.status is TaskStatus.PENDING
    assert again.attempts == 0
    assert again.scheduled_for == at(clock.now)
    second = claim(queue, task.id)
    assert second.task.attempts == 1
    queue.complete(task.id, token(second))
    assert [(a.number, a.outcome) for a in queue.attempts(task.id)] == [(1, "failed"), (2, "completed")]


def test_retry_of_a_cancel_requested_task_clears_the_request(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo")
    lease = token(claim(queue, task.id))
    queue.cancel(task.id)
    queue.fail(task.id, lease, "stopped")

    again = queue.retry(task.id)
    assert again.cancel_requested is False
    lease = token(claim(queue, task.id))
    assert queue.heartbeat(task.id, lease) is False
    assert queue.fail(task.id, lease, "boom").status is TaskStatus.RETRYING


@pytest.mark.parametrize("state", ["pending", "running", "completed", "blocked"])
def test_retry_of_a_task_that_has_not_failed_is_refused(queue: TaskQueueService, state: str) -> None:
    task = queue.enqueue("echo")
    if state == "running":
        claim(queue, task.id)
    elif state == "completed":
        queue.complete(task.id, token(claim(queue, task.id)))
    elif state == "blocked":
        task = queue.enqueue("echo", depends_on=[task.id])
    before = queue.get(task.id)
    assert before.status.value == state

    with pytest.raises(TaskStateError, match=state):
        queue.retry(task.id)
    assert queue.get(task.id) == before


# -- the retry policy itself ----------------------------------------------------------------------


def test_policy_delays_without_jitter_double_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(jitter=0)
    assert [policy.delay_s(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert RetryPolicy(base_s=10, cap_s=50, jitter=0).delay_s(100) == 50


@pytest.mark.parametrize("retry_number", [1, 2, 3, 5, 7, 12])
def test_policy_jitter_stays_within_its_bounds(retry_number: int) -> None:
    policy = RetryPolicy(base_s=60, cap_s=3600, jitter=0.2)
    raw = min(3600.0, 60 * 2 ** (retry_number - 1))
    rng = random.Random(retry_number)
    delays = [policy.delay_s(retry_number, rng.random) for _ in range(500)]

    assert all(raw * 0.8 <= d < raw * 1.2 for d in delays)
    assert min(delays) < raw < max(delays)  # it does spread both ways
    assert policy.delay_s(retry_number, lambda: 0.0) == pytest.approx(raw * 0.8)
    assert policy.delay_s(retry_number, lambda: 0.5) == pytest.approx(raw)
    assert policy.delay_s(retry_number, lambda: 0.999999) == pytest.approx(raw * 1.2, rel=1e-5)


def test_policy_cap_limits_the_delay_before_jitter() -> None:
    # The documented rule: min(cap_s, base_s * 2 ** (n - 1)), then scaled by [1 - jitter, 1 + jitter].
    policy = RetryPolicy(base_s=60, cap_s=100, jitter=0.1)
    rng = random.Random(7)
    delays = [policy.delay_s(30, rng.random) for _ in range(500)]
    assert all(90 <= d < 110 for d in delays)
    assert RetryPolicy(base_s=60, cap_s=100, jitter=0).delay_s(30) == 100


def test_policy_should_retry_and_argument_checks() -> None:
    policy = RetryPolicy(max_retries=2)
    assert [policy.should_retry(n) for n in (1, 2, 3)] == [True, True, False]
    for bad in (
        {"max_retries": -1},
        {"base_s": -1},
        {"cap_s": -0.5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)  # type: ignore[arg-type]


def test_long_failure_text_keeps_its_end(queue: TaskQueueService) -> None:
    task = queue.enqueue("echo", max_retries=0)
    error = "E" * 20_000
    failed = queue.fail(task.id, token(claim(queue, task.id)), error, traceback="T" * 10)
    # Very long errors keep their end (where the cause usually is), within the 10,000 limit.
    assert failed.last_error is not None and len(failed.last_error) == 10_000
    assert failed.last_error.endswith("E" * 100)
    assert queue.attempts(task.id)[0].traceback == "T" * 10


# -- arithmetic that cannot fail ------------------------------------------------------------------


def _set_attempts(service: TaskQueueService, task_id: int, attempts: int) -> None:
    """As if the task had failed that many times already (claiming it 1,024 times would only be slow)."""
    with service.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET attempts = {attempts} WHERE id = {task_id}"))


def test_the_1025th_failure_of_a_zero_backoff_task_retries_at_once(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("echo", max_retries=5000, retry_base_s=0)
    _set_attempts(queue, task.id, 1024)
    lease = claim(queue, task.id)  # its 1,025th attempt: base * 2 ** 1024 overflowed a float

    failed = queue.fail(task.id, token(lease), "again")

    assert failed.status is TaskStatus.RETRYING and failed.scheduled_for == at(clock.now)


def test_one_task_whose_backoff_would_overflow_never_stops_the_recovery_of_the_others(
    queue: TaskQueueService, clock: FakeClock
) -> None:
    huge = queue.enqueue("echo", max_retries=5000, retry_base_s=0)
    stored = queue.enqueue("echo", max_retries=5000)  # a row written before the bounds existed
    others = [queue.enqueue("echo") for _ in range(3)]
    _set_attempts(queue, huge.id, 1024)
    _set_attempts(queue, stored.id, 4000)
    with queue.engine.begin() as conn:
        conn.execute(text(f"UPDATE tasks SET retry_base_s = 1e308, retry_cap_s = 1e308 WHERE id = {stored.id}"))
    for task in (huge, stored, *others):
        claim(queue, task.id, "dead", lease_s=10)
    clock.advance(11)

    assert queue.recover_expired_leases() == [huge.id, stored.id, *(t.id for t in others)]

    assert queue.get(huge.id).scheduled_for == at(clock.now)
    assert queue.get(stored.id).status is TaskStatus.RETRYING  # waits at most the longest allowed backoff
    assert queue.get(stored.id).scheduled_for <= at(clock.now + 100 * 366 * 86_400)
    assert all(queue.get(t.id).status is TaskStatus.RETRYING for t in others)
    assert all(queue.attempts(t.id)[-1].outcome == "lost" for t in (huge, stored, *others))


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("max_retries", 10**20, "max_retries"),
        ("max_retries", 1_000_001, "max_retries"),
        ("retry_base_s", 1e308, "retry_base_s"),
        ("retry_cap_s", float("inf"), "retry_cap_s"),
        ("timeout_s", 1e300, "timeout_s"),
        ("scheduled_for", "9999-12-31T23:00:00-12:00", "scheduled_for"),
        ("scheduled_for", "0001-01-01T00:00:00+01:00", "scheduled_for"),
    ],
)
def test_settings_the_database_or_a_datetime_cannot_hold_are_refused(
    queue: TaskQueueService, option: str, value: object, field: str
) -> None:
    with pytest.raises(TaskValidationError) as caught:
        queue.enqueue("echo", **{option: value})
    assert caught.value.field == field
    with pytest.raises(TaskValidationError) as caught:
        if option != "scheduled_for":
            queue.update_agent("echo", **{option: value})
        else:
            raise TaskValidationError(field, "(agents have no schedule)")
    assert caught.value.field == field
    assert queue.count_tasks() == 0


def test_a_retry_policy_with_settings_out_of_bounds_is_refused_naming_them() -> None:
    for kwargs, field in (({"max_retries": -1}, "max_retries"), ({"base_s": 1e308}, "retry_base_s"),
                          ({"cap_s": float("nan")}, "retry_cap_s"), ({"jitter": 1.0}, "jitter")):
        with pytest.raises(TaskValidationError) as caught:
            RetryPolicy(**kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_a_new_retry_policy_applies_to_tasks_enqueued_after_it(queue: TaskQueueService) -> None:
    before = queue.enqueue("echo")
    queue.set_retry_policy(RetryPolicy(max_retries=7, base_s=5.0, cap_s=50.0))
    after = queue.enqueue("echo")
    assert (before.max_retries, before.retry_base_s) == (3, 60.0)
    assert (after.max_retries, after.retry_base_s, after.retry_cap_s) == (7, 5.0, 50.0)
    assert queue.retry_policy.max_retries == 7
    with pytest.raises(TypeError):
        queue.set_retry_policy({"max_retries": 1})  # type: ignore[arg-type]


class ProgramTable:
    """The process table recovery asks about, as a test sets it: groups alive by (host, pgid)."""

    def __init__(self) -> None:
        self.alive_groups: set[tuple[str, int]] = set()
        self.asked: list[tuple[str, int, float]] = []
        self.stopped: list[int] = []

    def alive(self, host: str, pgid: int, started_before: float) -> bool | None:
        self.asked.append((host, pgid, started_before))
        return None if host != "here" else (host, pgid) in self.alive_groups

    def stop(self, pgid: int) -> None:
        self.stopped.append(pgid)
        self.alive_groups = {g for g in self.alive_groups if g[1] != pgid}


def test_recovery_waits_for_a_live_program_of_the_old_attempt_then_stops_it(
    queue: TaskQueueService, clock: FakeClock
) -> None:
    from desktop.queue.maintenance import PROGRAM_WAIT_S

    programs = ProgramTable()
    held = queue.enqueue("echo", lock_key="repo")
    queue.enqueue("echo", lock_key="repo")  # waits: its lock key is held
    other_host = queue.enqueue("echo")
    plain = queue.enqueue("echo")
    claims = {t.id: claim(queue, t.id, "dead", lease_s=10) for t in (held, other_host, plain)}
    queue.record_process(held.id, token(claims[held.id]), pid=4242, host="here")
    queue.record_process(other_host.id, token(claims[other_host.id]), pid=77, host="elsewhere")
    programs.alive_groups.add(("here", 4242))
    clock.advance(11)
    expired_at = queue.get(held.id).lease_expires_at

    # The others are recovered at once; the held one keeps its lease, and so its lock key.
    assert queue.recover_expired_leases(programs) == [other_host.id, plain.id]
    assert queue.get(held.id).status is TaskStatus.RUNNING and queue.rescuer.waiting == 1
    assert ("here", 4242, expired_at.timestamp()) in programs.asked
    free = queue.enqueue("echo")
    assert [c.id for c in queue.dequeue_many("another", 10, lease_s=100)] == [free.id]

    clock.advance(PROGRAM_WAIT_S - 1)
    assert queue.recover_expired_leases(programs) == [] and programs.stopped == []
    clock.advance(1)
    assert queue.recover_expired_leases(programs) == [held.id]
    assert programs.stopped == [4242] and queue.rescuer.waiting == 0
    [lost] = queue.attempts(held.id)
    assert lost.outcome == "lost" and lost.host == "here" and lost.pid == 4242
    assert lost.error is not None and lost.error.endswith(
        f"its program (process group 4242 on here) was still running {PROGRAM_WAIT_S:.0f} s after the lease "
        "expired, so it was stopped"
    )


def test_a_program_that_ends_while_recovery_waits_hands_the_task_on_without_a_stop(
    queue: TaskQueueService, clock: FakeClock
) -> None:
    programs = ProgramTable()
    task = queue.enqueue("echo", lock_key="repo")
    queue.record_process(task.id, token(claim(queue, task.id, "dead", lease_s=10)), pid=9, host="here")
    programs.alive_groups.add(("here", 9))
    clock.advance(11)
    assert queue.recover_expired_leases(programs) == []
    programs.alive_groups.clear()  # it ended by itself
    clock.advance(1)
    assert queue.recover_expired_leases(programs) == [task.id]
    assert programs.stopped == [] and "still running" not in (queue.attempts(task.id)[0].error or "")
