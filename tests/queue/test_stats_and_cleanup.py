"""Statistics, listing and searching tasks, cancelling, and deleting old history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from desktop.queue import (
    NotFoundError,
    Task,
    TaskQueueService,
    TaskStateError,
    TaskStatus,
)
from tests.conftest import FakeClock
from tests.queue.helpers import at


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("alpha", "echo", concurrency=20)
    service.add_agent("beta", "echo", concurrency=20)
    return service



def claim(service: TaskQueueService, task_id: int, worker: str = "w1") -> str:
    """Claim the next task, check it is `task_id`, and return its lease token."""
    claimed = service.dequeue(worker)
    assert claimed is not None and claimed.id == task_id
    return claimed.token


def completed(service: TaskQueueService, agent: str = "alpha", payload: object = None) -> Task:
    task = service.enqueue(agent, payload)
    return service.complete(task.id, claim(service, task.id))


def failed(service: TaskQueueService, agent: str = "alpha", payload: object = None) -> Task:
    task = service.enqueue(agent, payload)
    return service.fail(task.id, claim(service, task.id), "broken", retryable=False)


def cancelled(service: TaskQueueService, agent: str = "alpha", payload: object = None) -> Task:
    return service.cancel(service.enqueue(agent, payload).id)


# -- stats ----------------------------------------------------------------------------------------


def test_stats_of_an_empty_queue(queue: TaskQueueService) -> None:
    stats = queue.stats()
    assert stats.by_status == {s.value: 0 for s in TaskStatus}
    assert len(stats.by_status) == 8  # backlogged included
    assert stats.by_agent == {}
    assert stats.total == 0
    assert (stats.avg_wait_s, stats.avg_run_s, stats.success_rate, stats.last_finished_at) == (None,) * 4
    assert (stats.throughput_last_minute, stats.throughput_last_hour) == (0, 0)
    assert stats.paused is False


def test_stats_counts_every_status_and_agent(queue: TaskQueueService) -> None:
    completed(queue, "alpha")
    completed(queue, "alpha")
    failed(queue, "beta")
    retrying = queue.enqueue("alpha")
    queue.fail(retrying.id, claim(queue, retrying.id), "transient")
    cancelled(queue, "beta")
    running = queue.enqueue("alpha")
    claim(queue, running.id)
    pending = queue.enqueue("beta")
    queue.enqueue("beta", depends_on=[pending.id])

    stats = queue.stats()
    assert stats.by_status == {
        "pending": 1,
        "blocked": 1,
        "backlogged": 0,
        "running": 1,
        "retrying": 1,
        "completed": 2,
        "failed": 1,
        "cancelled": 1,
    }
    assert stats.by_agent == {
        "alpha": {"completed": 2, "retrying": 1, "running": 1},
        "beta": {"failed": 1, "cancelled": 1, "pending": 1, "blocked": 1},
    }
    assert stats.total == 8


def test_success_rate_covers_tasks_finished_in_the_last_hour(queue: TaskQueueService, clock: FakeClock) -> None:
    failed(queue)
    failed(queue)
    clock.advance(3601)  # those two fall out of the window
    assert queue.stats().success_rate is None

    for _ in range(3):
        completed(queue)
    failed(queue)
    cancelled(queue)  # neither a success nor a failure

    assert queue.stats().success_rate == pytest.approx(0.75)
    clock.advance(3599)
    assert queue.stats().success_rate == pytest.approx(0.75)


def test_throughput_counts_completions_in_the_last_minute_and_hour(queue: TaskQueueService, clock: FakeClock) -> None:
    completed(queue)  # will be 2 hours old
    clock.advance(7200)
    completed(queue)  # will be 70 s old
    clock.advance(30)
    completed(queue)  # will be 40 s old
    failed(queue)  # failures are not throughput
    clock.advance(40)

    stats = queue.stats()
    assert stats.throughput_last_minute == 1
    assert stats.throughput_last_hour == 2


def test_average_wait_and_run_times_come_from_the_clock(queue: TaskQueueService, clock: FakeClock) -> None:
    first = queue.enqueue("alpha")
    clock.advance(5)
    lease = claim(queue, first.id)
    clock.advance(2)
    queue.complete(first.id, lease)

    stats = queue.stats()
    assert stats.avg_wait_s == 5.0
    assert stats.avg_run_s == 2.0

    second = queue.enqueue("alpha")
    clock.advance(1)
    lease = claim(queue, second.id)
    clock.advance(4)
    queue.fail(second.id, lease, "broken", retryable=False)

    stats = queue.stats()
    assert stats.avg_wait_s == 3.0  # (5 + 1) / 2
    assert stats.avg_run_s == 3.0  # (2 + 4) / 2


def test_wait_is_measured_from_the_scheduled_time(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha", scheduled_for=at(clock.now + 100))
    clock.advance(103)
    lease = claim(queue, task.id)
    clock.advance(1)
    queue.complete(task.id, lease)
    assert queue.stats().avg_wait_s == 3.0


def test_last_finished_at(queue: TaskQueueService, clock: FakeClock) -> None:
    completed(queue)
    clock.advance(10)
    finished = failed(queue)
    clock.advance(10)
    queue.enqueue("alpha")

    assert finished.finished_at == at(clock.now - 10)
    assert queue.stats().last_finished_at == at(clock.now - 10)


# -- listing and counting -------------------------------------------------------------------------


@pytest.fixture
def mixed(queue: TaskQueueService) -> dict[str, Task]:
    """Six tasks over two agents in three statuses, with searchable payloads."""
    tasks = {
        "a_done": completed(queue, "alpha", {"text": "find the needle"}),
        "b_fail": failed(queue, "beta", {"text": "haystack"}),
        "a_pend": queue.enqueue("alpha", {"text": "another NEEDLE here"}),
        "b_pend": queue.enqueue("beta", {"text": "plain"}),
        "a_pend2": queue.enqueue("alpha", {"text": "plain"}, task_type="needle-type"),
        "b_pend2": queue.enqueue("beta", {"text": "plain"}),
    }
    return tasks


def ids(tasks: list[Task]) -> list[int]:
    return [t.id for t in tasks]


def test_list_tasks_is_newest_first(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    assert ids(queue.list_tasks()) == sorted((t.id for t in mixed.values()), reverse=True)
    assert queue.count_tasks() == 6


def test_list_tasks_by_status(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    pending = [mixed["b_pend2"].id, mixed["a_pend2"].id, mixed["b_pend"].id, mixed["a_pend"].id]
    assert ids(queue.list_tasks(status="pending")) == pending
    assert ids(queue.list_tasks(status=TaskStatus.FAILED)) == [mixed["b_fail"].id]
    assert ids(queue.list_tasks(status=["completed", "failed"])) == [mixed["b_fail"].id, mixed["a_done"].id]
    assert queue.list_tasks(status=[]) == []
    assert queue.count_tasks(status="pending") == 4
    assert queue.count_tasks(status=["completed", "failed"]) == 2
    assert queue.count_tasks(status="running") == 0


def test_list_tasks_by_agent(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    assert ids(queue.list_tasks(agent="alpha")) == [mixed["a_pend2"].id, mixed["a_pend"].id, mixed["a_done"].id]
    assert ids(queue.list_tasks(agent="beta", status="pending")) == [mixed["b_pend2"].id, mixed["b_pend"].id]
    assert queue.count_tasks(agent="beta") == 3
    assert queue.count_tasks(agent="ghost") == 0


def test_list_tasks_search(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    # Payload text (case-insensitive for ASCII) and task type both match.
    assert ids(queue.list_tasks(search="needle")) == [mixed["a_pend2"].id, mixed["a_pend"].id, mixed["a_done"].id]
    assert queue.count_tasks(search="needle") == 3
    assert ids(queue.list_tasks(search="haystack")) == [mixed["b_fail"].id]
    # last_error is searched too.
    assert ids(queue.list_tasks(search="broken")) == [mixed["b_fail"].id]
    assert queue.list_tasks(search="nothing like this") == []
    assert queue.count_tasks(search="needle", agent="alpha", status="pending") == 2


def test_list_tasks_search_by_id(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    wanted = mixed["b_pend"]
    assert ids(queue.list_tasks(search=str(wanted.id))) == [wanted.id]
    assert ids(queue.list_tasks(search=f"#{wanted.id}")) == [wanted.id]
    assert queue.count_tasks(search=f" #{wanted.id} ") == 1


def test_list_tasks_search_treats_wildcard_characters_literally(queue: TaskQueueService) -> None:
    percent = queue.enqueue("alpha", {"text": "100% done"})
    queue.enqueue("alpha", {"text": "1000 done"})
    queue.enqueue("alpha", {"text": "plain"})
    underscore = queue.enqueue("alpha", {"text": "snake_case"})
    backslash = queue.enqueue("alpha", {"text": "back\\slash"})

    assert ids(queue.list_tasks(search="100%")) == [percent.id]
    assert ids(queue.list_tasks(search="e_c")) == [underscore.id]
    assert queue.count_tasks(search="%") == 1
    assert queue.count_tasks(search="_") == 1
    assert ids(queue.list_tasks(search="k\\")) == [backslash.id]  # backslash in the payload's JSON text


def test_list_tasks_pages(queue: TaskQueueService, mixed: dict[str, Task]) -> None:
    everything = ids(queue.list_tasks())
    assert ids(queue.list_tasks(limit=2)) == everything[:2]
    assert ids(queue.list_tasks(offset=2, limit=2)) == everything[2:4]
    assert ids(queue.list_tasks(offset=4, limit=10)) == everything[4:]
    assert ids(queue.list_tasks(before_id=everything[1], limit=3)) == everything[2:5]
    assert ids(queue.list_tasks(before_id=everything[-1])) == []
    assert ids(queue.list_tasks(status="pending", before_id=everything[1])) == [
        mixed["b_pend"].id, mixed["a_pend"].id,
    ]


def test_get_unknown_task_is_not_found(queue: TaskQueueService) -> None:
    with pytest.raises(NotFoundError):
        queue.get(123)


# -- cancel ---------------------------------------------------------------------------------------


def test_cancel_of_a_pending_task(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha")
    clock.advance(3)

    done = queue.cancel(task.id)

    assert done.status is TaskStatus.CANCELLED
    assert done.finished_at == at(clock.now)
    assert done.last_error == "cancelled by the user"
    assert queue.get(task.id) == done
    assert queue.dequeue("w1") is None


def test_cancel_of_a_retrying_task(queue: TaskQueueService, clock: FakeClock) -> None:
    task = queue.enqueue("alpha")
    queue.fail(task.id, claim(queue, task.id), "transient")
    assert queue.cancel(task.id).status is TaskStatus.CANCELLED
    clock.advance(3600)
    assert queue.dequeue("w1") is None


@pytest.mark.parametrize("make", [completed, failed, cancelled])
def test_cancel_of_a_finished_task_is_refused(queue: TaskQueueService, make: object) -> None:
    task = make(queue)  # type: ignore[operator]
    with pytest.raises(TaskStateError, match="already"):
        queue.cancel(task.id)
    assert queue.get(task.id) == task


def test_cancel_of_an_unknown_task(queue: TaskQueueService) -> None:
    with pytest.raises(NotFoundError):
        queue.cancel(404)


def test_cancel_many_skips_finished_tasks(queue: TaskQueueService) -> None:
    done = completed(queue)
    gone = failed(queue)
    retrying = queue.enqueue("beta")
    queue.fail(retrying.id, claim(queue, retrying.id), "transient")
    running = queue.enqueue("alpha")
    claim(queue, running.id)
    pending = queue.enqueue("alpha")

    acted = queue.cancel_many([done.id, pending.id, running.id, gone.id, retrying.id, pending.id])

    assert [t.id for t in acted] == [pending.id, running.id, retrying.id]
    assert queue.get(pending.id).status is TaskStatus.CANCELLED
    assert queue.get(retrying.id).status is TaskStatus.CANCELLED
    assert queue.get(running.id).status is TaskStatus.RUNNING
    assert queue.get(running.id).cancel_requested is True
    assert queue.get(done.id) == done
    assert queue.get(gone.id) == gone


# -- cleanup --------------------------------------------------------------------------------------


def attempt_rows(service: TaskQueueService, task_ids: list[int]) -> int:
    with service.engine.begin() as conn:
        return conn.execute(
            text(f"SELECT count(*) FROM task_attempts WHERE task_id IN ({','.join(map(str, task_ids))})")
        ).scalar_one()


def test_cleanup_deletes_only_old_finished_tasks_and_their_attempts(queue: TaskQueueService, clock: FakeClock) -> None:
    queue.pause("beta")
    old_pending = queue.enqueue("beta", {"old": "but waiting"})
    old_done = completed(queue)
    old_failed = failed(queue)
    old_cancelled = cancelled(queue)
    old_retrying = queue.enqueue("alpha", retry_base_s=30 * 86400, retry_cap_s=30 * 86400)
    queue.fail(old_retrying.id, claim(queue, old_retrying.id), "transient")
    old_ids = [old_done.id, old_failed.id, old_cancelled.id]
    assert attempt_rows(queue, old_ids) == 2

    clock.advance(6 * 86400)
    recent_done = completed(queue)
    clock.advance(2 * 86400)  # the old ones are 8 days old, the recent one 2 days

    assert queue.cleanup(older_than=timedelta(days=7)) == 3

    for task_id in old_ids:
        with pytest.raises(NotFoundError):
            queue.get(task_id)
    assert attempt_rows(queue, old_ids) == 0
    assert queue.get(recent_done.id).status is TaskStatus.COMPLETED
    assert len(queue.attempts(recent_done.id)) == 1
    assert queue.get(old_pending.id).status is TaskStatus.PENDING
    assert queue.get(old_retrying.id).status is TaskStatus.RETRYING
    assert len(queue.attempts(old_retrying.id)) == 1
    assert queue.count_tasks() == 3
    assert queue.cleanup(older_than=timedelta(days=7)) == 0


def test_cleanup_in_small_batches_deletes_them_all(queue: TaskQueueService, clock: FakeClock) -> None:
    for _ in range(5):
        completed(queue)
    keep = queue.enqueue("alpha")
    clock.advance(100)

    assert queue.cleanup(older_than=50, batch=2) == 5
    assert ids(queue.list_tasks()) == [keep.id]


def test_cleanup_keeps_tasks_inside_the_window(queue: TaskQueueService, clock: FakeClock) -> None:
    done = completed(queue)
    clock.advance(7 * 86400 - 1)
    assert queue.cleanup(timedelta(days=7)) == 0
    assert queue.get(done.id) == done


def test_ids_are_not_reused_after_the_newest_tasks_are_cleaned_up(queue: TaskQueueService, clock: FakeClock) -> None:
    keep = queue.enqueue("beta", scheduled_for=at(clock.now + 10**6))
    newest = [completed(queue).id for _ in range(3)]
    clock.advance(100)
    assert queue.cleanup(older_than=50) == 3

    fresh = queue.enqueue_many([{"agent": "alpha", "payload": n} for n in range(2)])

    assert min(t.id for t in fresh) > max(newest)
    assert [(t.id, t.payload) for t in fresh] == [(t.id, queue.get(t.id).payload) for t in fresh]
    assert queue.count_tasks() == 3
    assert queue.get(keep.id).status is TaskStatus.PENDING


def test_cleanup_refuses_a_negative_window(queue: TaskQueueService) -> None:
    completed(queue)
    with pytest.raises(ValueError):
        queue.cleanup(timedelta(days=-1))
    assert queue.count_tasks() == 1


def test_search_matches_a_payload_as_the_window_shows_it(queue: TaskQueueService) -> None:
    """Payloads are stored as compact JSON; a search typed as shown (a space after ':') finds them."""
    wanted = queue.enqueue("alpha", {"n": 12345, "tags": ["a", "b"]})
    queue.enqueue("alpha", {"n": 54321})
    assert ids(queue.list_tasks(search='"n": 12345')) == [wanted.id]
    assert ids(queue.list_tasks(search='"n":12345')) == [wanted.id]
    assert queue.count_tasks(search='["a", "b"]') == 1
