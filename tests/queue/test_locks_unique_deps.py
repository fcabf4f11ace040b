"""Lock keys (one running task per key), unique keys (one unfinished task per key), dependencies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from desktop.queue import (
    LockInfo,
    Task,
    TaskQueueService,
    TaskStateError,
    TaskStatus,
    TaskValidationError,
    repo_lock_key,
)
from tests.conftest import FakeClock
from tests.queue.helpers import at, claim, token


def complete(service: TaskQueueService, task_id: int) -> Task:
    return service.complete(task_id, token(claim(service, task_id)))


def fail_for_good(service: TaskQueueService, task_id: int) -> Task:
    return service.fail(task_id, token(claim(service, task_id)), "broken", retryable=False)


# -- lock keys ------------------------------------------------------------------------------------


def test_second_task_with_a_held_lock_waits_for_the_first(queue: TaskQueueService, clock: FakeClock) -> None:
    first = queue.enqueue("echo", lock_key="repo:x", priority=5)
    second = queue.enqueue("echo", lock_key="repo:x", priority=5)
    free = queue.enqueue("echo", lock_key="repo:y", priority=1)
    lease = token(claim(queue, first.id, "w1", lease_s=30))

    assert queue.locks() == [LockInfo("repo:x", first.id, "echo", "w1", at(clock.now), at(clock.now + 30))]
    # The agent has free slots, yet `second` is skipped: a task with another key runs instead.
    clock.advance(1)
    assert claim(queue, free.id, "w2").task.lock_key == "repo:y"
    assert queue.dequeue("w3") is None
    assert {lock.key for lock in queue.locks()} == {"repo:x", "repo:y"}

    queue.complete(first.id, lease)
    assert [lock.key for lock in queue.locks()] == ["repo:y"]
    clock.advance(1)
    claimed = claim(queue, second.id, "w3")
    assert claimed.task.lock_key == "repo:x"
    assert [(lock.key, lock.task_id, lock.worker_id) for lock in queue.locks()] == [
        ("repo:y", free.id, "w2"),
        ("repo:x", second.id, "w3"),
    ]


def test_tasks_without_a_lock_key_never_wait_on_each_other(queue: TaskQueueService) -> None:
    ids = [queue.enqueue("echo").id for _ in range(3)]
    assert [queue.dequeue("w").id for _ in ids] == ids  # type: ignore[union-attr]
    assert queue.locks() == []


def test_permanent_failure_releases_the_lock(queue: TaskQueueService) -> None:
    first = queue.enqueue("echo", lock_key="k")
    second = queue.enqueue("echo", lock_key="k")
    lease = token(claim(queue, first.id))
    assert queue.dequeue("w2") is None

    queue.fail(first.id, lease, "broken", retryable=False)

    assert queue.locks() == []
    claim(queue, second.id, "w2")


def test_a_retrying_task_does_not_hold_its_lock_during_the_backoff(queue: TaskQueueService) -> None:
    first = queue.enqueue("echo", lock_key="k")
    second = queue.enqueue("echo", lock_key="k")
    queue.fail(first.id, token(claim(queue, first.id)), "transient")

    assert queue.locks() == []
    claim(queue, second.id, "w2")


def test_a_cancelled_running_task_releases_the_lock_when_its_worker_stops(queue: TaskQueueService) -> None:
    first = queue.enqueue("echo", lock_key="k")
    second = queue.enqueue("echo", lock_key="k")
    lease = token(claim(queue, first.id))

    queue.cancel(first.id)
    # Only a request so far: the worker is still running it, so the lock stays held.
    assert [lock.task_id for lock in queue.locks()] == [first.id]
    assert queue.dequeue("w2") is None

    assert queue.heartbeat(first.id, lease) is True
    assert queue.fail(first.id, lease, "stopped").status is TaskStatus.CANCELLED
    assert queue.locks() == []
    claim(queue, second.id, "w2")


def test_lease_recovery_releases_the_lock(queue: TaskQueueService, clock: FakeClock) -> None:
    first = queue.enqueue("echo", lock_key="k", priority=5)
    second = queue.enqueue("echo", lock_key="k", priority=1)
    claim(queue, first.id, "dead", lease_s=10)
    clock.advance(11)
    assert queue.dequeue("w2") is None

    assert queue.recover_expired_leases() == [first.id]

    assert queue.locks() == []
    claim(queue, second.id, "w2")


def test_the_database_refuses_two_running_tasks_with_one_lock_key(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo", lock_key="repo:shared")
    b = queue.enqueue("echo", lock_key="repo:shared")

    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(
            text("UPDATE tasks SET status = 'running' WHERE id IN (:a, :b)"), {"a": a.id, "b": b.id}
        )

    assert [queue.get(i).status for i in (a.id, b.id)] == [TaskStatus.PENDING, TaskStatus.PENDING]


def test_the_database_refuses_a_second_running_task_with_a_held_lock(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo", lock_key="repo:shared")
    b = queue.enqueue("echo", lock_key="repo:shared")
    claim(queue, a.id)

    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(text("UPDATE tasks SET status = 'running' WHERE id = :b"), {"b": b.id})
    assert queue.get(b.id).status is TaskStatus.PENDING


def test_the_database_refuses_two_unfinished_tasks_with_one_unique_key(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo", unique_key="u")
    complete(queue, a.id)
    b = queue.enqueue("echo", unique_key="u")

    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(text("UPDATE tasks SET status = 'pending' WHERE id = :a"), {"a": a.id})
    assert queue.get(a.id).status is TaskStatus.COMPLETED
    assert queue.get(b.id).status is TaskStatus.PENDING


# -- unique keys ----------------------------------------------------------------------------------


def test_unique_key_returns_the_unfinished_task(queue: TaskQueueService) -> None:
    first = queue.enqueue("echo", {"v": 1}, unique_key="sync:repo")
    again = queue.enqueue("echo", {"v": 2}, unique_key="sync:repo", priority=5)

    assert again.id == first.id
    assert again.payload == {"v": 1} and again.priority == 3  # nothing was written
    assert queue.count_tasks() == 1

    running = claim(queue, first.id)
    assert queue.enqueue("echo", unique_key="sync:repo").id == first.id
    assert queue.count_tasks() == 1

    queue.complete(first.id, token(running))
    fresh = queue.enqueue("echo", {"v": 3}, unique_key="sync:repo")
    assert fresh.id != first.id and fresh.status is TaskStatus.PENDING
    assert queue.count_tasks() == 2


def test_unique_key_is_free_again_after_a_failure_or_cancel(queue: TaskQueueService) -> None:
    failed = queue.enqueue("echo", unique_key="u", max_retries=0)
    fail_for_good(queue, failed.id)
    cancelled = queue.enqueue("echo", unique_key="u")
    assert cancelled.id != failed.id
    queue.cancel(cancelled.id)
    third = queue.enqueue("echo", unique_key="u")
    assert len({failed.id, cancelled.id, third.id}) == 3


def test_retry_is_refused_while_another_task_has_the_unique_key(queue: TaskQueueService) -> None:
    old = queue.enqueue("echo", unique_key="u")
    fail_for_good(queue, old.id)
    queue.enqueue("echo", unique_key="u")

    with pytest.raises(TaskStateError, match="unique key"):
        queue.retry(old.id)
    assert queue.get(old.id).status is TaskStatus.FAILED


def test_enqueue_many_with_duplicate_unique_keys_makes_one_task(queue: TaskQueueService) -> None:
    existing = queue.enqueue("echo", unique_key="old")
    tasks = queue.enqueue_many(
        [
            {"agent": "echo", "payload": 1, "unique_key": "k"},
            {"agent": "echo", "payload": 2, "unique_key": "k"},
            {"agent": "echo", "payload": 3},
            {"agent": "echo", "payload": 4, "unique_key": "old"},
        ]
    )

    assert len(tasks) == 4
    assert tasks[1].id == tasks[0].id
    assert tasks[0].payload == 1
    assert tasks[2].id not in (tasks[0].id, existing.id)
    assert tasks[3].id == existing.id
    assert queue.count_tasks() == 3


# -- dependencies ---------------------------------------------------------------------------------


def test_a_task_waits_for_all_its_dependencies(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    b = queue.enqueue("echo")
    c = queue.enqueue("echo", depends_on=[a.id, b.id])
    assert c.status is TaskStatus.BLOCKED
    assert sorted(queue.dependencies(c.id)) == [a.id, b.id]

    complete(queue, a.id)
    assert queue.get(c.id).status is TaskStatus.BLOCKED

    complete(queue, b.id)
    assert queue.get(c.id).status is TaskStatus.PENDING
    complete(queue, c.id)


def test_a_dependency_that_is_retrying_keeps_its_dependents_blocked(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    c = queue.enqueue("echo", depends_on=[a.id])
    queue.fail(a.id, token(claim(queue, a.id)), "transient")
    assert queue.get(c.id).status is TaskStatus.BLOCKED


def test_depending_on_completed_tasks_only_is_pending_at_once(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    complete(queue, a.id)
    assert queue.enqueue("echo", depends_on=[a.id]).status is TaskStatus.PENDING


def test_permanent_failure_cancels_dependents_transitively(queue: TaskQueueService, clock: FakeClock) -> None:
    root = queue.enqueue("echo", max_retries=0)
    other = queue.enqueue("echo")
    child = queue.enqueue("echo", depends_on=[root.id])
    grandchild = queue.enqueue("echo", depends_on=[child.id, other.id])
    unrelated = queue.enqueue("echo", depends_on=[other.id])

    lease = token(claim(queue, root.id))
    clock.advance(3)
    queue.fail(root.id, lease, "broken")

    child_now, grandchild_now = queue.get(child.id), queue.get(grandchild.id)
    assert child_now.status is TaskStatus.CANCELLED
    assert child_now.last_error is not None and f"task {root.id}" in child_now.last_error
    assert "failed" in child_now.last_error
    assert child_now.finished_at == at(clock.now)
    assert grandchild_now.status is TaskStatus.CANCELLED
    assert grandchild_now.last_error is not None and f"task {child.id}" in grandchild_now.last_error
    assert queue.get(other.id).status is TaskStatus.PENDING
    assert queue.get(unrelated.id).status is TaskStatus.BLOCKED


def test_cancel_cancels_dependents_transitively(queue: TaskQueueService) -> None:
    root = queue.enqueue("echo")
    child = queue.enqueue("echo", depends_on=[root.id])
    grandchild = queue.enqueue("echo", depends_on=[child.id])

    queue.cancel(root.id)

    for task_id, cause in ((child.id, root.id), (grandchild.id, child.id)):
        task = queue.get(task_id)
        assert task.status is TaskStatus.CANCELLED
        assert task.last_error is not None and f"task {cause}" in task.last_error
    assert queue.dequeue("w1") is None


def test_lease_recovery_that_fails_a_task_cancels_its_dependents(queue: TaskQueueService, clock: FakeClock) -> None:
    root = queue.enqueue("echo", max_retries=0)
    child = queue.enqueue("echo", depends_on=[root.id])
    claim(queue, root.id, lease_s=5)
    clock.advance(6)

    queue.recover_expired_leases()

    assert queue.get(child.id).status is TaskStatus.CANCELLED


def test_retry_of_a_dependent_respects_its_dependencies(queue: TaskQueueService) -> None:
    root = queue.enqueue("echo", max_retries=0)
    child = queue.enqueue("echo", depends_on=[root.id])
    queue.cancel(child.id)

    # Its dependency has not run yet: the retried task waits for it again.
    assert queue.retry(child.id).status is TaskStatus.BLOCKED

    fail_for_good(queue, root.id)
    assert queue.get(child.id).status is TaskStatus.CANCELLED
    with pytest.raises(TaskStateError, match=f"task {root.id}"):
        queue.retry(child.id)  # it could never run

    queue.retry(root.id)
    assert queue.retry(child.id).status is TaskStatus.BLOCKED
    complete(queue, root.id)
    assert queue.get(child.id).status is TaskStatus.PENDING


def test_depends_on_a_missing_task_is_refused(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    with pytest.raises(TaskValidationError) as info:
        queue.enqueue("echo", depends_on=[a.id, 9999])
    assert info.value.field == "depends_on"
    assert "9999" in str(info.value)
    assert queue.count_tasks() == 1


def test_depends_on_a_failed_task_is_refused(queue: TaskQueueService) -> None:
    a = queue.enqueue("echo")
    fail_for_good(queue, a.id)
    with pytest.raises(TaskValidationError) as info:
        queue.enqueue("echo", depends_on=[a.id])
    assert info.value.field == "depends_on"
    assert queue.count_tasks() == 1


# -- repository lock keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote",
    [
        "git@github.com:user/repo.git",
        "https://github.com/user/repo",
        "ssh://git@github.com/user/repo/",
        "https://GitHub.com/User/Repo.git",
        "git@github.com:user/repo",
    ],
)
def test_remote_forms_of_one_repository_share_a_key(remote: str) -> None:
    assert repo_lock_key(remote) == "repo:github.com/user/repo"


def test_other_repositories_get_other_keys() -> None:
    keys = {
        repo_lock_key("git@github.com:user/repo.git"),
        repo_lock_key("git@github.com:user/other.git"),
        repo_lock_key("git@gitlab.com:user/repo.git"),
    }
    assert len(keys) == 3


def test_local_path_forms_share_one_path_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    link = tmp_path / "link-to-repo"
    link.symlink_to(repo, target_is_directory=True)
    monkeypatch.chdir(tmp_path)

    keys = {
        repo_lock_key(repo),
        repo_lock_key(str(repo)),
        repo_lock_key(str(repo) + os.sep),
        repo_lock_key(link),
        repo_lock_key("./repo"),
        repo_lock_key("repo/"),
    }
    assert keys == {"path:" + str(repo.resolve())}
    assert repo_lock_key(tmp_path / "elsewhere") != repo_lock_key(repo)


def test_an_empty_repository_identifier_is_refused() -> None:
    with pytest.raises(ValueError):
        repo_lock_key("  ")
