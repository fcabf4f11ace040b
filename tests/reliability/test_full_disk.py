"""A full disk, for real: a small tmpfs holds the database while a real `agentq worker` runs.

Opening, enqueueing and the worker all say "the disk is full" (never "corrupt"); the worker's
finished outcomes wait in memory and are written once there is room again; a worker whose
database stays broken past database_retry_s exits 1 saying so, even with --burst.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_until

from desktop.errors import DatabaseFileError
from desktop.queue import TaskQueueService, TaskStatus

DISK_BYTES = 2 << 20


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own (root only; skipped elsewhere)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path, name: str = "filler") -> Path:
    """Fill the disk to the last block; returns the filler file (delete it to make room)."""
    filler = folder / name
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_opening_and_enqueueing_on_a_full_disk_say_the_disk_is_full(disk: Path) -> None:
    url = f"sqlite:///{disk / 'queue.db'}"
    with TaskQueueService.open(url) as service:
        service.add_agent("echo", "echo")
        service.enqueue_many([{"agent": "echo", "payload": {"n": n}} for n in range(50)])
    filler = fill(disk)
    # SQLite says "disk I/O error" here (the -shm file cannot grow): a full disk, not a corrupt file.
    with pytest.raises(DatabaseFileError, match="is full; nothing was written") as info:
        TaskQueueService.open(url)
    assert "corrupt" not in str(info.value) and "not a usable" not in str(info.value)
    filler.unlink()
    with TaskQueueService.open(url) as service:
        filler = fill(disk)
        with pytest.raises(DatabaseFileError, match="is full; nothing was written"):
            service.enqueue_many([{"agent": "echo", "payload": "x" * 4000} for _ in range(200)])
        assert service.count_tasks() == 50
        filler.unlink()
        service.enqueue("echo", {"n": 50})
        assert service.count_tasks() == 51


def _worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", "worker", *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        text=True,
    )


def _setup(cli_env: dict[str, str], disk: Path, tmp_path: Path, retry_s: float) -> tuple[dict[str, str], str, Path]:
    """Settings with database_retry_s, the database on the small disk, and a `gate` agent whose
    tasks run until the file `go` exists."""
    settings = Path(cli_env["AGENTQ_CONFIG_DIR"]) / "settings.json"
    values = json.loads(settings.read_text())
    settings.write_text(json.dumps({**values, "lease_s": 30.0, "database_retry_s": retry_s}))
    url = f"sqlite:///{disk / 'queue.db'}"
    env = {**cli_env, "AGENTQ_DATABASE_URL": url}
    go = tmp_path / "go"
    with TaskQueueService.open(url) as service:
        argv = ["sh", "-c", f"while [ ! -e {go} ]; do sleep 0.05; done; echo done"]
        service.add_agent("gate", "command", {"argv": argv}, concurrency=2)
        service.enqueue_many([{"agent": "gate", "payload": {"n": n}} for n in range(2)])
    return env, url, go


def _statuses(url: str) -> list[TaskStatus]:
    with TaskQueueService.open(url) as service:
        return [t.status for t in service.list_tasks()]


def test_a_worker_keeps_outcomes_through_a_full_disk_and_writes_them_when_there_is_room(
    cli_env: dict[str, str], disk: Path, tmp_path: Path
) -> None:
    env, url, go = _setup(cli_env, disk, tmp_path, retry_s=120.0)
    log = tmp_path / "worker.log"
    worker = _worker(env, log, "--burst", "--concurrency", "2")
    try:
        wait_until(lambda: _statuses(url) == [TaskStatus.RUNNING] * 2, 60, f"both tasks running: {log.read_text()}")
        filler = fill(disk)
        go.touch()  # both finish while nothing can be written
        wait_until(lambda: log.read_text().count("the database failed") >= 2, 60, "the worker retrying")
        assert worker.poll() is None, "the worker must keep trying, not stop"
        filler.unlink()
        assert worker.wait(60) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert "is full" in text and "corrupt" not in text and "Traceback" not in text, text
    assert "slot stopped" not in text and "the database works again" in text, text
    with TaskQueueService.open(url) as service:
        tasks = service.list_tasks()
        assert [t.status for t in tasks] == [TaskStatus.COMPLETED] * 2
        assert [[a.outcome for a in service.attempts(t.id)] for t in tasks] == [["completed"]] * 2


@pytest.mark.parametrize("burst", [True, False])
def test_a_worker_whose_database_stays_broken_exits_1_saying_so(
    cli_env: dict[str, str], disk: Path, tmp_path: Path, burst: bool
) -> None:
    env, url, go = _setup(cli_env, disk, tmp_path, retry_s=2.0)
    log = tmp_path / "worker.log"
    worker = _worker(env, log, "--concurrency", "2", *(["--burst"] if burst else []))
    try:
        wait_until(lambda: _statuses(url) == [TaskStatus.RUNNING] * 2, 60, f"both tasks running: {log.read_text()}")
        filler = fill(disk)
        go.touch()
        code = worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert code == 1, text
    last = text.strip().splitlines()[-1]
    assert last.startswith("agentq: error: the database kept failing for"), text
    assert "is full" in last and "database_retry_s" in last and "Traceback" not in text, text
    filler.unlink()
    assert _statuses(url) == [TaskStatus.RUNNING] * 2  # until their leases expire: nothing was lost
    assert os.path.exists(disk / "queue.db")
