"""What the pool saves about attempts: usage limits parked, details reported, given-up actions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.queue import TaskQueueService, TaskStatus
from desktop.workers import execution, task_watch
from desktop.workers.pool import WorkerPool
from tests.workers import helpers


def test_a_usage_limit_parks_the_task_until_the_reset_without_using_a_retry(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execution, "PARK_MARGIN_S", 0.2)
    queue.add_agent("coder", "python", {"target": "tests.workers.helpers:limited_once"})
    resets_at = time.time() + 0.5
    task = queue.enqueue("coder", {"marker": str(tmp_path / "marker"), "resets_at": resets_at}, max_retries=0)
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.RETRYING, timeout=5_000)
    parked = queue.get(task.id)
    assert parked.attempts == 0 and "parked until" in (parked.last_error or "")
    assert abs(parked.scheduled_for.timestamp() - (resets_at + 0.2)) < 0.01
    [attempt] = queue.attempts(task.id)
    assert attempt.outcome == "parked" and attempt.details == {"session_id": "s-1"} and attempt.cost_usd == 0.5
    qtbot.waitUntil(lambda: queue.get(task.id).status is TaskStatus.COMPLETED, timeout=5_000)  # the next poll
    assert queue.get(task.id).started_at.timestamp() >= resets_at + 0.2  # type: ignore[union-attr]
    assert [a.outcome for a in queue.attempts(task.id)] == ["parked", "completed"]


@pytest.mark.parametrize("fails", [False, True])
def test_what_an_action_reports_is_saved_with_its_attempt(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool], fails: bool
) -> None:
    queue.add_agent("reporter", "python", {"target": "tests.workers.helpers:reporting"})
    task = queue.enqueue("reporter", {"fail": fails}, max_retries=0)
    pool = make_pool()
    pool.start()
    ended = TaskStatus.FAILED if fails else TaskStatus.COMPLETED
    qtbot.waitUntil(lambda: queue.get(task.id).status is ended, timeout=5_000)
    [attempt] = queue.attempts(task.id)
    assert (attempt.cost_usd, attempt.input_tokens, attempt.output_tokens, attempt.cached_tokens) == (1.25, 10, 20, 5)
    assert attempt.details == {"turns": 3, "model": "m"}
    assert attempt.host and attempt.pid is None


def test_an_action_that_ignores_its_timeout_is_given_up_once_and_its_slot_handed_on_once(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_watch, "TIMEOUT_GRACE_S", 0.05)
    monkeypatch.setattr(task_watch, "GIVE_UP_AFTER_S", 0.1)
    queue.add_agent("stuck", "python", {"target": "tests.workers.helpers:stubborn"})
    queue.add_agent("slow", "sleep", concurrency=5)
    helpers.STUBBORN_RELEASE.clear()
    helpers.STUBBORN_RETURNED.clear()
    stuck = queue.enqueue("stuck", {"seconds": 10}, timeout_s=0.1, max_retries=0)
    pool = make_pool(concurrency=1)
    peak = {"now": 0, "max": 0}

    def started(task: object) -> None:
        peak["now"] = queue.stats().by_status["running"]
        peak["max"] = max(peak["max"], peak["now"])

    pool.start()
    qtbot.waitUntil(lambda: queue.get(stuck.id).status is TaskStatus.FAILED, timeout=5_000)
    assert "did not stop when asked" in (queue.get(stuck.id).last_error or "")
    # The stuck thread still sleeps; its slot went to new work.
    first = queue.enqueue("slow", {"seconds": 0.01})
    qtbot.waitUntil(lambda: queue.get(first.id).status is TaskStatus.COMPLETED, timeout=5_000)
    helpers.STUBBORN_RELEASE.set()  # the stuck action returns now: its late outcome is dropped, its slot not freed again
    assert helpers.STUBBORN_RETURNED.wait(10)
    pool.task_started.connect(started)
    later = [queue.enqueue("slow", {"seconds": 0.2}) for _ in range(3)]
    qtbot.waitUntil(lambda: all(queue.get(t.id).status is TaskStatus.COMPLETED for t in later), timeout=10_000)
    assert peak["max"] == 1, "concurrency 1 must still mean one task at a time"
    assert [a.outcome for a in queue.attempts(stuck.id)] == ["failed"]
