"""The worker pool against a real database file, with real threads."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.queue import TaskQueueService, TaskStatus
from desktop.workers.pool import WorkerPool
from tests.conftest import FakeClock
from tests.waiting import first_pass_done


def _status(queue: TaskQueueService, task_id: int) -> TaskStatus:
    return queue.get(task_id).status


def test_pool_runs_tasks_to_completion_and_logs_each_attempt(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    tasks = [queue.enqueue("echo", {"n": i}) for i in range(10)]
    pool = make_pool()
    finished: list[int] = []
    pool.task_finished.connect(lambda task: finished.append(task.id))
    pool.start()
    qtbot.waitUntil(lambda: len(finished) == 10, timeout=10_000)
    for task in tasks:
        done = queue.get(task.id)
        assert done.status is TaskStatus.COMPLETED
        assert done.result == {"n": task.payload["n"]}
        [attempt] = queue.attempts(task.id)
        assert attempt.outcome == "completed" and attempt.worker_id == pool.worker_id
        assert attempt.duration_ms is not None


def test_a_listener_connected_while_the_pool_runs_hears_the_next_tasks(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    """The pool announces tasks only once someone listens (connectNotify), so one that connects
    late, as the window's dialogs and the tests do, hears every task after it connected."""
    queue.add_agent("echo", "echo")
    pool = make_pool()
    pool.start()
    unheard = queue.enqueue("echo", {"n": 0})
    qtbot.waitUntil(lambda: _status(queue, unheard.id) is TaskStatus.COMPLETED, timeout=5_000)
    started: list[int] = []
    pool.task_started.connect(lambda task: started.append(task.id))
    with qtbot.waitSignal(pool.task_finished, timeout=5_000) as finished:
        heard = queue.enqueue("echo", {"n": 1})
    assert finished.args[0].id == heard.id and finished.args[0].status is TaskStatus.COMPLETED
    qtbot.waitUntil(lambda: started == [heard.id], timeout=5_000)


def test_a_task_enqueued_in_process_starts_without_waiting_for_a_poll(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    pool = make_pool(poll_interval_s=30.0)  # a poll would take 30 s: only the wake-up can be fast
    pool.start()
    qtbot.waitUntil(lambda: first_pass_done(queue, pool.worker_id), timeout=5_000)  # it idles now
    task = queue.enqueue("echo", {"hello": 1})
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.COMPLETED, timeout=5_000)


def test_global_and_per_agent_concurrency_limits_hold(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("slow", "sleep", concurrency=2)
    queue.add_agent("single", "sleep", concurrency=1)
    for _ in range(4):
        queue.enqueue("slow", {"seconds": 0.3})
        queue.enqueue("single", {"seconds": 0.3})
    pool = make_pool(concurrency=3)
    peak = {"all": 0, "slow": 0, "single": 0}

    def sample(_task: object) -> None:
        by_agent = queue.stats().by_agent
        running = {name: by_agent.get(name, {}).get("running", 0) for name in ("slow", "single")}
        peak["all"] = max(peak["all"], sum(running.values()))
        for name, count in running.items():
            peak[name] = max(peak[name], count)

    pool.task_started.connect(sample)
    pool.start()
    qtbot.waitUntil(lambda: queue.stats().by_status["completed"] == 8, timeout=20_000)
    assert peak["all"] <= 3 and peak["slow"] <= 2 and peak["single"] <= 1
    assert peak["all"] >= 2, "the pool should run tasks side by side"


def test_a_task_past_its_timeout_fails_with_a_clear_error_then_retries(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("slow", "sleep")
    task = queue.enqueue("slow", {"seconds": 30}, timeout_s=0.3, max_retries=1)
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.FAILED, timeout=10_000)
    attempts = queue.attempts(task.id)
    assert [a.outcome for a in attempts] == ["failed", "failed"]
    assert all("timed out after 0.3 s" in (a.error or "") for a in attempts)


def test_cancelling_a_running_task_stops_it_within_a_second(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("slow", "sleep")
    task = queue.enqueue("slow", {"seconds": 60})
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.RUNNING, timeout=5_000)
    started = time.monotonic()
    queue.cancel(task.id)  # as `agentq cancel` would, from outside the pool
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.CANCELLED, timeout=5_000)
    assert time.monotonic() - started < 1.0


def test_cancel_reaches_a_cooperative_python_task(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("spin", "python", {"target": "tests.workers.helpers:cooperative_spin"})
    task = queue.enqueue("spin")
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.RUNNING, timeout=5_000)
    queue.cancel(task.id)
    pool.cancel_running(task.id)  # what the window does: stop it now, without waiting for a heartbeat
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.CANCELLED, timeout=2_000)


def test_python_tasks_report_progress_and_async_functions_run(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("adder", "python", {"target": "tests.workers.helpers:add"})
    queue.add_agent("doubler", "python", {"target": "tests.workers.helpers:async_double"})
    add = queue.enqueue("adder", {"a": 2, "b": 3})
    double = queue.enqueue("doubler", {"n": 21})
    pool = make_pool()
    progress: list[tuple[int, int, str]] = []
    pool.task_progress.connect(lambda *args: progress.append(args))
    pool.start()
    qtbot.waitUntil(lambda: _status(queue, double.id) is TaskStatus.COMPLETED, timeout=5_000)
    qtbot.waitUntil(lambda: _status(queue, add.id) is TaskStatus.COMPLETED, timeout=5_000)
    assert queue.get(add.id).result == {"sum": 5}
    assert queue.get(double.id).result == 42
    assert (add.id, 50, "adding") in progress
    assert "adding 2 and 3" in (queue.attempts(add.id)[0].output_tail or "")


def test_pausing_stops_new_claims_and_resuming_restarts_them(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    queue.pause()
    task = queue.enqueue("echo")
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: first_pass_done(queue, pool.worker_id), timeout=5_000)  # it looked, paused
    assert _status(queue, task.id) is TaskStatus.PENDING
    queue.resume()
    pool.wake()
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.COMPLETED, timeout=5_000)


def test_shutdown_gives_running_tasks_back_without_failing_them(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("slow", "sleep", concurrency=2)
    tasks = [queue.enqueue("slow", {"seconds": 60}) for _ in range(2)]
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: all(_status(queue, t.id) is TaskStatus.RUNNING for t in tasks), timeout=5_000)
    pool.stop(grace_s=0.2)
    for task in tasks:
        after = queue.get(task.id)
        assert after.status is TaskStatus.PENDING
        assert after.attempts == 0 and after.last_error is None
        assert [a.outcome for a in queue.attempts(task.id)] == ["interrupted"]
    assert queue.locks() == []


def test_a_task_whose_agent_kind_is_missing_fails_with_a_clear_error(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    task = queue.enqueue("echo", max_retries=0)
    pool = make_pool(kinds={})
    pool.start()
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.FAILED, timeout=5_000)
    assert "agent kind 'echo' is not installed" in (queue.get(task.id).last_error or "")


def test_burst_mode_announces_when_the_queue_is_drained(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    for i in range(20):
        queue.enqueue("echo", {"n": i})
    pool = make_pool(burst=True)
    with qtbot.waitSignal(pool.drained, timeout=10_000):
        pool.start()
    assert queue.stats().by_status["completed"] == 20


def test_cancelling_a_running_command_kills_it_within_a_second(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    started_file = tmp_path / "started"
    code = f"open({str(started_file)!r}, 'w').close(); import time; time.sleep(60)"
    queue.add_agent("long", "command", {"argv": [sys.executable, "-c", code]})
    task = queue.enqueue("long")
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(started_file.exists, timeout=10_000)  # the program runs
    started = time.monotonic()
    queue.cancel(task.id)
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.CANCELLED, timeout=5_000)
    assert time.monotonic() - started < 1.0
    [attempt] = queue.attempts(task.id)
    assert attempt.outcome == "cancelled"


def test_a_stopped_pool_can_start_again(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo")
    pool = make_pool()
    pool.start()
    pool.stop(grace_s=0)
    pool.start()
    task = queue.enqueue("echo", {"again": True})
    qtbot.waitUntil(lambda: _status(queue, task.id) is TaskStatus.COMPLETED, timeout=5_000)


def test_progress_reaches_the_database_with_heartbeats(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    """Another process (the window of a different machine, the CLI) sees a running task's progress."""
    queue.add_agent("slow", "sleep")
    task = queue.enqueue("slow", {"seconds": 30})
    pool = make_pool(lease_s=0.6)  # heartbeats every 0.2 s
    pool.start()
    qtbot.waitUntil(lambda: queue.get(task.id).progress > 0, timeout=5_000)
    assert "slept" in (queue.get(task.id).progress_message or "")


def test_maintenance_runs_at_start_on_a_machine_booted_a_second_ago(
    qtbot: QtBot, clocked_queue: TaskQueueService, clock: FakeClock, make_pool: Callable[..., WorkerPool]
) -> None:
    """The dispatcher's clock reads 1.0 and never moves: recovery and retention must still run
    on the first pass instead of waiting until an hour (or 15 s) after boot."""
    queue = clocked_queue
    queue.add_agent("echo", "echo")
    old = queue.enqueue("echo")
    claimed = queue.dequeue("w")
    assert claimed is not None
    queue.complete(claimed.id, claimed.token)
    crashed = queue.enqueue("echo", {"crashed": True}, max_retries=0)
    lost = queue.dequeue("dead-worker", lease_s=0.01)  # its worker dies: the lease lapses
    assert lost is not None
    # `old` is then 3 s old and past the 1.5 s retention period, while `crashed` fails on the
    # pool's first pass (the clock stands still from here) and is younger than the period.
    clock.advance(3.0)
    pool = make_pool(queue, retention_days=1.5 / 86_400, monotonic=lambda: 1.0)
    pool.start()
    qtbot.waitUntil(lambda: queue.get(crashed.id).status is TaskStatus.FAILED, timeout=5_000)
    assert [a.outcome for a in queue.attempts(crashed.id)] == ["lost"]
    qtbot.waitUntil(lambda: old.id not in [t.id for t in queue.list_tasks()], timeout=5_000)


def test_the_pool_applies_the_retention_period_by_itself(
    qtbot: QtBot, clocked_queue: TaskQueueService, clock: FakeClock, make_pool: Callable[..., WorkerPool]
) -> None:
    queue = clocked_queue
    queue.add_agent("echo", "echo")
    old = queue.enqueue("echo")
    claimed = queue.dequeue("w")
    assert claimed is not None
    queue.complete(claimed.id, claimed.token)
    clock.advance(0.2)
    pool = make_pool(queue, retention_days=0.1 / 86_400)  # 0.1 s
    pool.start()
    qtbot.waitUntil(lambda: queue.count_tasks() == 0, timeout=5_000)
    assert old.id not in [t.id for t in queue.list_tasks()]
