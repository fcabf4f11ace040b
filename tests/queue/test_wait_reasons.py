"""Why a task waits, computed by the engine for a page of tasks at once, one test per reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desktop.queue import Task, TaskQueueService, TaskStatus, repo_lock_key
from tests.conftest import FakeClock


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    service.add_agent("alpha", "echo", concurrency=2)
    service.add_agent("beta", "echo", concurrency=5)
    return service


def why(queue: TaskQueueService, *tasks: Task) -> list[str | None]:
    reasons = queue.wait_reasons([queue.get(t.id) for t in tasks])
    return [reasons.get(t.id) for t in tasks]


def claim(queue: TaskQueueService, agent: str) -> int:
    claimed = queue.dequeue("w1", agents=[agent])
    assert claimed is not None
    return claimed.id


def test_a_blocked_task_names_the_tasks_it_waits_for_and_their_status(queue: TaskQueueService) -> None:
    first, second = queue.enqueue("alpha"), queue.enqueue("beta")
    assert claim(queue, "alpha") == first.id
    child = queue.enqueue("beta", depends_on=[first.id, second.id])
    assert why(queue, child) == [f"waiting for task #{first.id} (running), task #{second.id} (pending)"]


def test_a_ready_task_says_so_and_running_or_finished_tasks_have_no_reason(queue: TaskQueueService) -> None:
    ready, done = queue.enqueue("beta"), queue.enqueue("beta")
    assert claim(queue, "beta") == ready.id  # claim order: the first one
    assert why(queue, ready, done) == [None, "ready: the next free worker slot takes it"]


def test_an_agent_at_its_concurrency(queue: TaskQueueService) -> None:
    tasks = [queue.enqueue("alpha") for _ in range(3)]
    claim(queue, "alpha"), claim(queue, "alpha")
    assert why(queue, tasks[2]) == ["agent alpha at its limit (2/2 running)"]


def test_a_repository_busy_in_place_or_with_every_worktree(queue: TaskQueueService) -> None:
    queue.add_repo("app", source="/src/app", local_path="/src/app", max_parallel=2)
    queue.add_repo("lib", source="/src/lib", local_path="/src/lib", mode="in-place")
    held = [queue.enqueue("beta", repo="app") for _ in range(2)]
    waiting = queue.enqueue("beta", repo="app")
    in_place = queue.enqueue("beta", repo="lib")
    behind = queue.enqueue("beta", repo="lib")
    claimed = sorted(claim(queue, "beta") for _ in range(3))
    assert claimed == sorted([held[0].id, held[1].id, in_place.id])
    assert why(queue, waiting, behind) == [
        f"repository app: 2 of 2 worktrees busy (#{held[0].id}, #{held[1].id})",
        f"repository lib busy with #{in_place.id}",
    ]
    plain = queue.enqueue("beta", lock_key="deploy")
    queue.enqueue("beta", lock_key="deploy")
    claim(queue, "beta")
    [second] = [t for t in queue.list_tasks(status="pending") if t.lock_key == "deploy"]
    assert why(queue, second) == [f"lock deploy held by #{plain.id}"]
    # A repository's lock key given by hand (no registered repository) is still named as one.
    key = repo_lock_key("git@github.com:me/site.git")
    queue.update_agent("beta", concurrency=10)  # room for one more: only the lock holds it
    first = queue.enqueue("beta", lock_key=key)
    queue.enqueue("beta", lock_key=key)
    claim(queue, "beta")
    [later] = [t for t in queue.list_tasks(status="pending") if t.lock_key == key]
    assert why(queue, later) == [f"repository github.com/me/site busy with #{first.id}"]


def test_paused_queue_and_agents_with_the_reason_the_app_gave(queue: TaskQueueService, clock: FakeClock) -> None:
    task, other = queue.enqueue("alpha"), queue.enqueue("beta")
    queue.pause("alpha")
    assert why(queue, task, other) == ["agent alpha is paused", "ready: the next free worker slot takes it"]
    queue.pause()
    assert why(queue, other) == ["the queue is paused (agentq resume)"]
    queue.resume()
    queue.resume("alpha")
    queue.update_agent("alpha", daily_budget_usd=0.5)
    spender = queue.enqueue("alpha", priority=5)
    claimed = queue.dequeue("w1", agents=["alpha"])
    assert claimed is not None and claimed.id == spender.id
    queue.complete(claimed.id, claimed.token, details={"cost_usd": 0.75})
    assert queue.enforce_budgets() == ["alpha"]
    [reason] = why(queue, task)
    assert reason is not None
    assert reason.startswith("agent alpha is paused: daily budget of $0.50 reached ($0.75 spent today); resumes at ")


def test_scheduled_retrying_and_parked_tasks_say_when(queue: TaskQueueService, clock: FakeClock) -> None:
    later = queue.enqueue("beta", scheduled_for=datetime.fromtimestamp(clock.now + 600, UTC))
    flaky = queue.enqueue("beta", max_retries=2, retry_base_s=120, retry_cap_s=120)
    parked = queue.enqueue("beta")
    for _ in range(2):
        claimed = queue.dequeue("w1")
        assert claimed is not None
        if claimed.id == flaky.id:
            queue.fail(claimed.id, claimed.token, "flaky")
        else:
            queue.park(claimed.id, claimed.token, clock.now + 3 * 3600, "usage limit reached")
    assert [queue.get(t.id).status for t in (flaky, parked)] == [TaskStatus.RETRYING] * 2
    scheduled, retry, limit = why(queue, later, flaky, parked)
    assert scheduled is not None and scheduled.startswith("scheduled for ") and scheduled.endswith("(in 10 min)")
    assert retry is not None and retry.startswith("retry 2 of 3 at ") and retry.endswith("(in 2 min)")
    assert limit is not None and limit.startswith("usage limit: runs again at ") and limit.endswith("(in 3 h)")
    queue.pause("beta")  # a pause comes first, the time after it
    assert why(queue, later)[0] == "agent beta is paused; " + scheduled


def test_reasons_come_for_a_whole_page_in_one_call(queue: TaskQueueService) -> None:
    tasks = [queue.enqueue("alpha") for _ in range(50)]
    claim(queue, "alpha"), claim(queue, "alpha")
    page = queue.page(status=["pending", "running"], limit=100).tasks
    reasons = queue.wait_reasons(page)
    assert len(page) == 50 and len(reasons) == 48
    assert set(reasons.values()) == {"agent alpha at its limit (2/2 running)"}
    assert tasks[0].id not in reasons
