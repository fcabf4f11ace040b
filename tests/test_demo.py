"""First run: the demo agents and tasks reach completed, failed and retrying as designed."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.bootstrap import open_queue
from desktop.config import PROFILES
from desktop.demo import create_example_agents, enqueue_demo_tasks
from desktop.queue import TaskStatus
from desktop.workers.pool import WorkerPool


def test_demo_tasks_show_priorities_scheduling_retries_and_a_command(qtbot: QtBot, db_url: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    settings = dataclasses.replace(PROFILES["development"], poll_interval_s=0.05, concurrency=1)
    service = open_queue(db_url, settings)
    added = create_example_agents(service, flaky_backoff_s=0.3)
    assert {a.name for a in added} == {"echo", "sleep", "flaky", "git-status"}
    assert create_example_agents(service) == []  # running it again adds nothing
    tasks = enqueue_demo_tasks(service, repo)
    low, high, *_ = tasks
    pool = WorkerPool(service, settings, output_dir=tmp_path / "logs")
    started: list[int] = []
    pool.task_started.connect(lambda task: started.append(task.id))
    pool.start()
    try:
        by_agent = lambda name: [t for t in service.list_tasks(agent=name)]  # noqa: E731
        qtbot.waitUntil(lambda: by_agent("flaky")[0].status is TaskStatus.RETRYING, timeout=10_000)
        qtbot.waitUntil(lambda: by_agent("flaky")[0].status is TaskStatus.FAILED, timeout=10_000)
        qtbot.waitUntil(lambda: all(t.status is TaskStatus.COMPLETED for t in by_agent("sleep")), timeout=15_000)
        qtbot.waitUntil(lambda: by_agent("git-status")[0].status is TaskStatus.COMPLETED, timeout=10_000)
        qtbot.waitUntil(lambda: service.count_tasks(status="completed") == 6, timeout=10_000)
    finally:
        pool.stop(grace_s=0)
    assert started.index(high.id) < started.index(low.id)  # priority 5 before priority 1
    scheduled = [t for t in service.list_tasks(agent="echo") if t.status is TaskStatus.PENDING]
    assert len(scheduled) == 1 and "a minute from now" in scheduled[0].payload["message"]
    git = service.get(tasks[6].id)
    assert "No commits yet" in (git.result or {}).get("output_tail", "") or git.result["exit_code"] == 0
    assert [a.outcome for a in service.attempts(tasks[5].id)] == ["failed"] * 3  # 2 retries, then failed
    service.close()
