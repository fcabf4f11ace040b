"""N+1 tasks on a repository with --max-parallel N, across two `agentq worker` processes, never run
more than N at once, each in its own worktree and branch; in place, never two. The intervals come
from the attempts the workers recorded; the agent is the fake Claude Code, taking a while per run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pools import FAKE_CLAUDE

from desktop.queue import TaskQueueService, TaskStatus
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
N = 2


def agentq(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "desktop", *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def peak(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (one ending as another starts do not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def run_on_two_workers(env: dict[str, str], db_url: str, repo: Path, mode: str, tasks: int) -> dict[str, object]:
    agentq(env, "repos", "add", str(repo), "--mode", mode, "--max-parallel", str(N) if mode == "worktree" else "1")
    agentq(env, "agents", "add", "coder", "claude", "--cli", FAKE_CLAUDE[1], "--concurrency", str(tasks))
    ids = [json.loads(agentq(env, "enqueue", "coder", "--repo", "repo", "--prompt", f"change {n}", "--json"))[0]["id"]
           for n in range(tasks)]
    queue = TaskQueueService.open(db_url)

    def worker(name: str, concurrency: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "desktop", "worker", "--concurrency", str(concurrency), "--worker-id", name],
            env={**env, "FAKE_AGENT_DELAY_S": "1.5"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    # w1 takes one task; then w2, with room for all the others, starts: only the repository's
    # capacity, kept by the database across the two processes, can hold it back.
    workers = [worker("w1", 1)]
    try:
        wait_until(lambda: queue.stats().by_status["running"] >= 1, 60, "w1 claimed a task")
        workers.append(worker("w2", tasks))

        def all_completed() -> bool:
            failed = [queue.get(i).last_error for i in ids if queue.get(i).status is TaskStatus.FAILED]
            assert not failed, failed
            return all(queue.get(i).status is TaskStatus.COMPLETED for i in ids)

        wait_until(all_completed, 90, "the tasks completed")
        attempts = [a for i in ids for a in queue.attempts(i)]
        results = [queue.get(i).result for i in ids]
    finally:
        queue.close()
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    intervals = [(a.started_at.timestamp(), a.finished_at.timestamp()) for a in attempts if a.finished_at]
    return {
        "peak": peak(intervals), "attempts": attempts, "results": results,
        "span": max(end for _, end in intervals) - min(start for start, _ in intervals),
        "workers": sorted({a.worker_id for a in attempts}),
    }


def test_n_plus_one_tasks_with_max_parallel_n_on_two_workers_never_run_more_than_n_at_once(
    cli_env: dict[str, str], db_url: str, repo: Path
) -> None:
    run = run_on_two_workers(cli_env, db_url, repo, "worktree", N + 1)
    print(f"worktree mode, max-parallel {N}, {N + 1} tasks, workers {run['workers']}: peak {run['peak']} at once, "
          f"all done in {run['span']:.2f} s")
    assert run["peak"] == N  # never more, and the repository's N slots were used
    assert run["workers"] == ["w1", "w2"]  # both processes ran its tasks
    assert [a.outcome for a in run["attempts"]] == ["completed"] * (N + 1)  # type: ignore[attr-defined]
    results = run["results"]
    assert len({r["worktree"] for r in results}) == len({r["branch"] for r in results}) == N + 1  # type: ignore[index]
    assert all(r["files_changed"] == [{"path": "agent-output.txt", "added": 1, "removed": 0}] for r in results)  # type: ignore[index]


def test_in_place_tasks_on_two_workers_never_run_two_at_once(
    cli_env: dict[str, str], db_url: str, repo: Path
) -> None:
    run = run_on_two_workers(cli_env, db_url, repo, "in-place", 3)
    print(f"in-place mode, 3 tasks, workers {run['workers']}: peak {run['peak']} at once, all done in {run['span']:.2f} s")
    assert run["peak"] == 1
    assert {r["worktree"] for r in run["results"]} == {str(repo)}  # type: ignore[index]
