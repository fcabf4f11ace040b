"""Lease recovery never hands a lock key on while the old attempt's program still runs here.

The worker *and* its supervisor are SIGKILLed at once, so nothing is left to stop the program's
process group: it outlives them. A second worker finds the expired lease, sees the recorded group
(host and pgid, saved with the attempt as soon as the program started) still alive on this host,
waits for it (bounded), then stops the group, says so in the attempt log, and only then runs the
task, and the other task of its lock key, again. Each run holds `flock -n` on the key's file: a
run that overlapped the old program would find it held and exit 75.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import process_gone, wait_until

from desktop.queue import TaskQueueService, TaskStatus

pytestmark = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc to watch processes")

Agentq = Callable[..., subprocess.CompletedProcess[str]]
StartWorker = Callable[..., subprocess.Popen[str]]

# The first run starts `sleep 60` and waits; later runs end at once. flock holds the key's file
# through every process of the run, so a run overlapping another exits 75.
PROGRAM = (
    "if [ -e {marker} ]; then echo quick; exit 0; fi; touch {marker}; "
    "sleep 60 & echo $$ $! >> {pids}; wait"
)


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2:].split()[1])


def test_a_surviving_program_is_waited_for_then_stopped_before_its_lock_key_runs_again(
    agentq: Agentq, start_worker: StartWorker, tmp_path: Path, db_url: str
) -> None:
    pids, marker, lock = tmp_path / "pids", tmp_path / "marker", tmp_path / "key.lock"
    script = PROGRAM.format(marker=marker, pids=pids)
    config = {"argv": ["flock", "-n", "-E", "75", str(lock), "sh", "-c", script]}
    agentq("agents", "add", "keyed", "command", "--config", json.dumps(config), "--concurrency", "2")
    first_id = int(json.loads(agentq("enqueue", "keyed", "--lock-key", "k", "--json").stdout)[0]["id"])
    other_id = int(json.loads(agentq("enqueue", "keyed", "--lock-key", "k", "--json").stdout)[0]["id"])

    worker = start_worker("--concurrency", "2")
    wait_until(lambda: pids.exists() and pids.read_text().endswith("\n"), 30, "the program started")
    shell, sleeper = (int(w) for w in pids.read_text().split())
    flock = _ppid(shell)
    supervisor = _ppid(flock)
    with TaskQueueService.open(db_url) as service:
        wait_until(lambda: service.attempts(first_id)[-1].pid is not None, 10, "the program's group recorded")
        running = service.attempts(first_id)[-1]
        assert running.outcome == "running" and running.pid == flock and running.host == socket.gethostname()
    os.kill(supervisor, signal.SIGKILL)
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert not process_gone(sleeper), "the scenario needs a program that outlived its worker"

    start_worker("--concurrency", "2")
    with TaskQueueService.open(db_url) as service:
        done = (TaskStatus.COMPLETED,) * 2
        wait_until(lambda: (service.get(first_id).status, service.get(other_id).status) == done, 90,
                   "both tasks of the key completed")
        attempts = {task_id: service.attempts(task_id) for task_id in (first_id, other_id)}
    assert process_gone(sleeper)
    lost, again = attempts[first_id]
    assert lost.outcome == "lost" and again.outcome == "completed"
    assert lost.host == socket.gethostname() and lost.pid == flock
    assert f"its program (process group {flock} on {lost.host}) was still running" in (lost.error or "")
    assert "so it was stopped" in (lost.error or "")
    assert [a.outcome for a in attempts[other_id]] == ["completed"]  # never a flock conflict (exit 75)
