"""`agentq` as a user runs it: real subprocesses on a real database file."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from desktop.cli import main as cli_main
from desktop.queue import TaskQueueService, TaskStatus
from tests.e2e.conftest import agentq
from tests.waiting import wait_until


def test_enqueue_list_show_and_a_burst_worker(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    out = agentq(env, "enqueue", "echo", "--payload", '{"n": 1}', "--priority", "5", "--json").stdout
    [task] = json.loads(out)
    assert task["priority"] == 5 and task["status"] == "pending"
    agentq(env, "enqueue", "--file", "-", input='{"agent": "echo", "payload": 2}\n{"agent": "echo", "payload": 3}\n')
    listed = json.loads(agentq(env, "list", "--json").stdout)
    assert len(listed) == 3
    agentq(env, "worker", "--burst")
    listed = json.loads(agentq(env, "list", "--json").stdout)
    assert {t["status"] for t in listed} == {"completed"}
    shown = agentq(env, "show", str(task["id"])).stdout
    assert "[completed]" in shown and "Attempt 1: completed" in shown
    stats = json.loads(agentq(env, "stats", "--json").stdout)
    assert stats["by_status"]["completed"] == 3
    metrics = agentq(env, "metrics").stdout
    assert 'agentq_tasks{agent="echo",status="completed"} 3' in metrics


def test_bad_input_is_one_clear_line_with_a_nonzero_exit_and_writes_nothing(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    cases = [
        (("enqueue", "echo", "--priority", "9"), "priority"),
        (("enqueue", "nobody"), "no agent named 'nobody'"),
        (("enqueue", "echo", "--payload", "{not json"), "not valid JSON"),
        (("schedules", "add", "nightly", "61 * * * *", "echo"), "cron"),
        (("agents", "add", "bad", "command", "--config", '{"argv": []}'), "config.argv"),
        (("show", "999"), "task 999 does not exist"),
    ]
    for args, expected in cases:
        result = agentq(env, *args, check=False)
        assert result.returncode != 0, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    bad_batch = '{"agent": "echo"}\n{"agent": "echo", "priority": 0}\n'
    result = agentq(env, "enqueue", "--file", "-", input=bad_batch, check=False)
    assert result.returncode == 2 and "items[1].priority" in result.stderr
    assert json.loads(agentq(env, "list", "--json").stdout) == []


def test_pause_resume_locks_and_cleanup(env: dict[str, str], db_url: str) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "pause")
    assert "PAUSED" in agentq(env, "stats").stdout
    agentq(env, "resume")
    agentq(env, "enqueue", "echo", "--lock-key", "repo:github.com/user/repo")
    service = TaskQueueService.open(db_url)
    task = service.dequeue("test-worker")
    assert task is not None and task.task.lock_key == "repo:github.com/user/repo"
    locks = json.loads(agentq(env, "locks", "--json").stdout)
    assert [(lk["key"], lk["task_id"]) for lk in locks] == [("repo:github.com/user/repo", task.id)]
    service.complete(task.id, task.token)
    service.close()
    assert "deleted 0" in agentq(env, "cleanup", "--older-than", "30d").stdout
    assert "deleted 1" in agentq(env, "cleanup", "--older-than", "0s").stdout


def test_a_worker_killed_with_sigkill_loses_no_task(env: dict[str, str], db_url: str) -> None:
    agentq(env, "agents", "add", "slow", "sleep", "--concurrency", "2")
    for _ in range(4):
        agentq(env, "enqueue", "slow", "--payload", '{"seconds": 1.0}')
    first = subprocess.Popen(
        [sys.executable, "-m", "desktop", "worker", "--concurrency", "2", "--worker-id", "doomed"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    service = TaskQueueService.open(db_url)
    try:
        wait_until(lambda: service.stats().by_status["running"] == 2, 30, "the first worker started two tasks")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        def rescued() -> bool:  # a burst may end while the killed worker's leases are still live
            agentq(env, "worker", "--burst", "--worker-id", "rescuer")
            return service.stats().by_status["completed"] >= 4

        wait_until(rescued, 60, "the rescuer completed the four tasks")
        tasks = service.list_tasks()
        assert [t.status for t in tasks] == [TaskStatus.COMPLETED] * 4
        lost = [a for t in tasks for a in service.attempts(t.id) if a.outcome == "lost"]
        assert len(lost) == 2 and all(a.worker_id == "doomed" for a in lost)
    finally:
        if first.poll() is None:
            first.kill()
        service.close()


def _catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler of its own for `signum` (the SigCgt mask in /proc)."""
    mask = next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


def test_a_sigterm_while_the_worker_starts_still_stops_it_cleanly(env: dict[str, str], db_path: Path) -> None:
    """The signal lands after the worker's handler is installed and before its event loop runs:
    another process holds the database's write lock, so the pool's start (its first roster write)
    waits, and the test sends SIGTERM as soon as /proc shows the handler, then lets go of the lock."""
    agentq(env, "agents", "add", "echo", "echo")  # the database exists, migrated
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    worker = subprocess.Popen(
        [sys.executable, "-m", "desktop", "worker"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_until(lambda: worker.poll() is not None or _catches(worker.pid, signal.SIGTERM), 60,
                   "the worker installed its SIGTERM handler")
        assert worker.poll() is None, worker.communicate()[1]
        worker.send_signal(signal.SIGTERM)
        holder.execute("COMMIT")
        _, err = worker.communicate(timeout=20)
    finally:
        holder.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    received, started = err.index("received SIGTERM: stopping"), err.index("started: concurrency")
    assert received < started, err  # it came during the start, not once the worker ran
    assert "stopped" in err[started:]


def test_sigterm_stops_a_worker_gracefully_and_its_task_runs_again_later(env: dict[str, str], db_url: str) -> None:
    agentq(env, "agents", "add", "slow", "sleep")
    agentq(env, "enqueue", "slow", "--payload", '{"seconds": 30}')
    worker = subprocess.Popen(
        [sys.executable, "-m", "desktop", "worker", "--grace", "0.2"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    service = TaskQueueService.open(db_url)
    try:
        wait_until(lambda: service.stats().by_status["running"] == 1, 30, "the worker started the task")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        [task] = service.list_tasks()
        assert task.status is TaskStatus.PENDING and task.attempts == 0
        assert [a.outcome for a in service.attempts(task.id)] == ["interrupted"]
    finally:
        if worker.poll() is None:
            worker.kill()
        service.close()


def test_a_listing_whose_reader_leaves_early_ends_quietly(env: dict[str, str]) -> None:
    """`agentq list | head`: no traceback and no error line."""
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "enqueue", "--file", "-", input='{"agent": "echo", "payload": "a long enough payload"}\n' * 3000)
    with subprocess.Popen(
        [sys.executable, "-m", "desktop", "list", "--limit", "3000"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline()  # the reader takes one line, then goes away
        proc.stdout.close()
        stderr = proc.stderr.read()
        code = proc.wait(60)
    assert (code, stderr) == (1, "")


def test_running_a_command_in_process_leaves_the_callers_signals_as_they_were(db_path: Path) -> None:
    """A caller (a test, the window) keeps Python's SIGPIPE handling: a socket whose peer left
    raises an error there instead of killing the process."""
    before = signal.getsignal(signal.SIGPIPE)
    assert cli_main(["--db", str(db_path), "--create", "list"], out=io.StringIO()) == 0
    assert signal.getsignal(signal.SIGPIPE) == before == signal.SIG_IGN
