"""The engine's side of coding tasks on both databases: repositories and their lock key capacities,
workspace records and ports, what may be pruned, budgets and the ledger."""

from __future__ import annotations

import pytest

from desktop.errors import NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import TaskQueueService, TaskStatus, repo_lock_key
from tests.conftest import FakeClock


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("echo", "echo", concurrency=10)
    service.add_repo("app", source="/src/app", local_path="/src/app", max_parallel=2)
    return service


def test_a_repositorys_tasks_share_its_lock_key_up_to_its_capacity(queue: TaskQueueService) -> None:
    key = repo_lock_key("/src/app")
    tasks = [queue.enqueue("echo", repo="app") for _ in range(3)]
    assert {t.lock_key for t in tasks} == {key} and queue.lock_capacity(key) == 2
    claims = queue.dequeue_many("w", 3)
    assert [c.id for c in claims] == [tasks[0].id, tasks[1].id]
    queue.update_repo("app", mode="in-place")
    assert queue.lock_capacity(key) == 1
    with pytest.raises(TaskStateError, match="unfinished tasks"):
        queue.remove_repo("app")
    for claim in claims:
        queue.complete(claim.id, claim.token)
    queue.cancel(tasks[2].id)
    queue.remove_repo("app")
    assert queue.lock_capacity(key) == 1 and queue.find_repo("app") is None
    with pytest.raises(NotFoundError):
        queue.get_repo("app")


def test_each_repository_counts_its_tasks_that_wait(queue: TaskQueueService) -> None:
    queue.add_repo("lib", source="/src/lib", local_path="/src/lib")
    first, second, third = (queue.enqueue("echo", repo="app") for _ in range(3))
    queue.enqueue("echo", repo="lib", depends_on=[first.id])  # blocked: it waits too
    queue.enqueue("echo")  # no repository
    [claim] = queue.dequeue_many("w", 1)
    assert claim.id == first.id
    queue.cancel(third.id)
    assert queue.repo_waiting_counts() == {"app": 1, "lib": 1}  # running and cancelled ones do not wait
    queue.complete(claim.id, claim.token)
    assert queue.repo_waiting_counts() == {"app": 1, "lib": 1}
    assert second.status is TaskStatus.PENDING


def test_workspace_records_ports_and_what_may_be_pruned(queue: TaskQueueService, clock: FakeClock) -> None:
    records = queue.workspaces
    first, second = queue.enqueue("echo", repo="app"), queue.enqueue("echo", repo="app")
    claims = queue.dequeue_many("w", 2)
    one = records.record(first.id, "app", "/src/app", "/wt/1", "agentq/1-x", "main", created=True, base_commit="a" * 40)
    two = records.record(second.id, "app", "/src/app", "/wt/2", "agentq/2-y", "main", created=True)
    assert records.assign_port(one.id, lambda held: min(set(range(20000, 20010)) - set(held))) == 20000
    assert records.assign_port(two.id, lambda held: min(set(range(20000, 20010)) - set(held))) == 20001
    seen: list[set[int]] = []
    records.assign_port(one.id, lambda held: seen.append(set(held)) or 20000)  # a retry: a port again
    assert seen == [{20001}]  # the other running task's port; its own old one is not held
    records.update(two.id, base_commit="b" * 40, copied=[".env"], summary={"commits": 2})
    assert queue.task_workspace(second.id).copied == (".env",)  # type: ignore[union-attr]
    assert queue.task_workspace(second.id).summary == {"commits": 2}  # type: ignore[union-attr]
    assert records.prunable(clock() + 10) == []  # both tasks run
    for claim in claims:
        queue.complete(claim.id, claim.token)
    follow = queue.enqueue("echo", follow_up_of=first.id)
    assert follow.repo == "app" and follow.status is TaskStatus.PENDING
    assert [r.task_id for r in records.prunable(clock() + 10)] == [second.id]  # the follow-up needs /wt/1
    queue.cancel(follow.id)
    assert [r.task_id for r in records.prunable(clock() - 10)] == []  # finished after the cutoff
    assert [r.task_id for r in records.prunable(clock() + 10)] == [first.id, second.id]
    records.update(one.id, removed_at=clock())
    assert [r.task_id for r in records.prunable(clock() + 10)] == [second.id]
    assert [r.task_id for r in records.listing("app", removed=True)] == [first.id, second.id]


def test_budgets_and_the_ledger(queue: TaskQueueService, clock: FakeClock) -> None:
    queue.update_agent("echo", daily_budget_usd=1.0)
    task = queue.enqueue("echo", repo="app")
    [claim] = queue.dequeue_many("w", 1)
    queue.complete(claim.id, claim.token, details={"cost_usd": 1.5, "input_tokens": 10, "output_tokens": 2})
    assert queue.enforce_budgets() == ["echo"] and queue.is_paused("echo")
    agent = queue.get_agent("echo")
    assert agent.pause_reason and agent.pause_reason.startswith("daily budget of $1.00 reached ($1.50 spent today)")
    ledger = queue.ledger()
    assert [(x.key, x.attempts, x.cost_usd, x.input_tokens, x.output_tokens) for x in ledger.by_repo] == [
        ("app", 1, 1.5, 10, 2)
    ]
    assert [x.key for x in ledger.by_agent] == ["echo"] and len(ledger.by_day) == 1 and task.repo == "app"
    clock.advance(2 * 86_400)
    assert queue.enforce_budgets() == [] and not queue.is_paused("echo")
    with pytest.raises(TaskValidationError, match="daily_budget_usd"):
        queue.update_agent("echo", daily_budget_usd=0)
