"""Run-ahead: a pool claims beyond its free slots only while tasks are short, and gives back what
waits too long for a slot. Real pool threads on a real database file."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.queue import Task, TaskQueueService, TaskStatus
from desktop.workers import run_ahead
from desktop.workers.pool import WorkerPool


def _completed(queue: TaskQueueService) -> int:
    return queue.count_tasks(status="completed")


def test_short_tasks_are_claimed_many_per_commit_and_each_runs_once(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo", concurrency=1000)
    count = 400
    queue.enqueue_many([{"agent": "echo", "payload": {"n": i}} for i in range(count)])
    pool = make_pool(concurrency=2)
    pool.start()
    qtbot.waitUntil(lambda: _completed(queue) == count, timeout=30_000)
    tasks = queue.list_tasks(limit=count)
    # Tasks claimed by one claim share its start time: one task per free slot would make at least
    # count / 2 claims.
    claims = len({t.started_at for t in tasks})
    assert claims <= count // 4, f"{claims} claims for {count} short tasks on 2 slots"
    for task in tasks[:50]:
        assert [a.outcome for a in queue.attempts(task.id)] == ["completed"]
        assert task.result == task.payload and task.attempts == 1


def test_tasks_that_take_longer_are_claimed_one_per_free_slot(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("slow", "sleep", concurrency=100)
    for _ in range(8):
        queue.enqueue("slow", {"seconds": 2 * run_ahead.RUN_AHEAD_S})
    pool = make_pool(concurrency=2)
    peak = {"running": 0}

    def sample(_task: Task) -> None:
        peak["running"] = max(peak["running"], queue.stats().by_status["running"])

    pool.task_started.connect(sample)
    pool.start()
    qtbot.waitUntil(lambda: _completed(queue) == 8, timeout=20_000)
    assert 1 <= peak["running"] <= 2, "the database should never hold more running tasks than the pool's slots"


def test_tasks_claimed_ahead_that_wait_behind_a_long_one_are_given_back(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_ahead, "GIVE_BACK_AFTER_S", 0.3)
    queue.add_agent("echo", "echo", concurrency=1000)
    queue.add_agent("slow", "sleep", concurrency=10)
    queue.enqueue_many([{"agent": "echo", "priority": 5} for _ in range(40)])  # short: run-ahead starts
    long = queue.enqueue("slow", {"seconds": 1.5}, priority=4)
    behind = queue.enqueue_many([{"agent": "echo", "priority": 3} for _ in range(40)])
    pool = make_pool(concurrency=1)
    given_back: list[int] = []
    pool.task_finished.connect(
        lambda task: given_back.append(task.id) if task.status is TaskStatus.PENDING else None,
        Qt.ConnectionType.DirectConnection,
    )
    pool.start()
    qtbot.waitUntil(lambda: _completed(queue) == 81, timeout=30_000)
    assert given_back, "some short tasks claimed behind the long one should have been given back"
    for task in behind:  # given back or not, each ran once, and only its run is in its log
        assert [a.outcome for a in queue.attempts(task.id)] == ["completed"]
        assert queue.get(task.id).attempts == 1
    assert queue.get(long.id).status is TaskStatus.COMPLETED
