"""A real `agentq worker` running a command task: killed, stopped gracefully, cancelled or timed out,
its program's whole process group goes too, and a lock key never runs twice at once."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import process_gone, wait_until

from desktop.queue import TaskQueueService, TaskStatus

pytestmark = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc to watch processes")

Agentq = Callable[..., subprocess.CompletedProcess[str]]
StartWorker = Callable[..., subprocess.Popen[str]]

# The shell leads the group; `sleep` is its child. Each run appends one line: shell pid, sleep pid.
FAMILY = "sleep 40 & echo $$ $! >> {pids}; wait"


def add_sleeper(agentq: Agentq, pids: Path) -> None:
    config = {"argv": ["sh", "-c", FAMILY.format(pids=pids)]}
    agentq("agents", "add", "sleeper", "command", "--config", json.dumps(config))


def enqueue(agentq: Agentq, *args: str) -> int:
    [task] = json.loads(agentq("enqueue", "sleeper", "--json", *args).stdout)
    return int(task["id"])


def runs(pids: Path) -> list[list[int]]:
    """One [shell, sleep] pair per run so far (complete lines only)."""
    try:
        lines = pids.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    return [[int(w) for w in line.split()] for line in lines if line.endswith("\n")]


def status(db_url: str, task_id: int) -> TaskStatus:
    service = TaskQueueService.open(db_url)
    try:
        return service.get(task_id).status
    finally:
        service.close()


@pytest.fixture
def pids(tmp_path: Path) -> Path:
    return tmp_path / "pids"


def test_sigkill_of_the_worker_kills_its_program_and_the_lock_key_never_runs_twice(
    agentq: Agentq, start_worker: StartWorker, pids: Path, db_url: str
) -> None:
    add_sleeper(agentq, pids)
    task_id = enqueue(agentq, "--lock-key", "repo-1")
    first = start_worker("--concurrency", "1")
    wait_until(lambda: runs(pids), 30, "the first worker started the program")
    [old] = runs(pids)
    assert not any(process_gone(pid) for pid in old)

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    took = wait_until(lambda: all(map(process_gone, old)), 5, "the killed worker's program died")
    assert took < 2.0, f"the program outlived its worker by {took:.2f} s"

    # A second worker recovers the expired lease and runs the task again: by then the first copy is
    # gone, so the lock key never has two programs at once.
    start_worker("--concurrency", "1")
    wait_until(lambda: len(runs(pids)) == 2, 30, "the second worker ran the task again")
    assert all(map(process_gone, old))
    assert status(db_url, task_id) is TaskStatus.RUNNING


def test_sigterm_stops_the_worker_gracefully_and_its_program_with_it(
    agentq: Agentq, start_worker: StartWorker, pids: Path, db_url: str
) -> None:
    add_sleeper(agentq, pids)
    task_id = enqueue(agentq)
    worker = start_worker("--concurrency", "1", "--grace", "0")
    wait_until(lambda: runs(pids), 30, "the worker started the program")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert all(map(process_gone, runs(pids)[0]))
    assert status(db_url, task_id) is TaskStatus.PENDING  # given back, no attempt counted


def test_cancel_of_a_running_task_stops_its_whole_group(
    agentq: Agentq, start_worker: StartWorker, pids: Path, db_url: str
) -> None:
    add_sleeper(agentq, pids)
    task_id = enqueue(agentq)
    start_worker("--concurrency", "1")
    wait_until(lambda: runs(pids), 30, "the worker started the program")
    agentq("cancel", str(task_id))
    wait_until(lambda: all(map(process_gone, runs(pids)[0])), 10, "the cancelled program died")
    wait_until(lambda: status(db_url, task_id) is TaskStatus.CANCELLED, 10, "the task was cancelled")


def test_a_timed_out_task_has_its_whole_group_stopped(
    agentq: Agentq, start_worker: StartWorker, pids: Path, db_url: str
) -> None:
    add_sleeper(agentq, pids)
    task_id = enqueue(agentq, "--timeout", "1", "--max-retries", "0")
    start_worker("--concurrency", "1")
    wait_until(lambda: runs(pids), 30, "the worker started the program")
    wait_until(lambda: status(db_url, task_id) is TaskStatus.FAILED, 15, "the task timed out")
    assert all(map(process_gone, runs(pids)[0]))
    shown = agentq("show", str(task_id)).stdout
    assert "timed out after 1 s" in shown


def test_a_missing_program_fails_for_good_with_a_clear_message(agentq: Agentq, db_url: str) -> None:
    agentq("agents", "add", "ghost", "command", "--config", '{"argv": ["agentq-no-such-program-xyz"]}')
    [task] = json.loads(agentq("enqueue", "ghost", "--json", "--max-retries", "3").stdout)
    agentq("worker", "--burst")
    assert status(db_url, task["id"]) is TaskStatus.FAILED
    shown = agentq("show", str(task["id"])).stdout
    assert "program not found: 'agentq-no-such-program-xyz'" in shown
    assert "Attempt 2" not in shown  # permanent: no retries
