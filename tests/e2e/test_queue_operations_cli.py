"""The queue operations and the worker roster through `agentq` in real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import agentq
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


def _json(env: dict[str, str], *args: str) -> object:
    return json.loads(agentq(env, *args, "--json").stdout)


@pytest.fixture
def workers(env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop", "worker", *args], env=env, cwd=REPO, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_run_now_priority_move_backlog_and_release(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    ids = [json.loads(agentq(env, "enqueue", "echo", "--priority", p, "--json").stdout)[0]["id"] for p in "5133"]
    first, low, a, b = ids

    assert agentq(env, "run", str(low)).stdout.strip() == f"task {low} runs next (pending, priority 5, at the top)"
    assert "is first among the ready tasks of priority 3" in agentq(env, "move", str(b), "--top").stdout
    assert agentq(env, "priority", str(first), "2").stdout.strip() == f"task {first} now has priority 2 (pending)"
    assert "backlogged" in agentq(env, "backlog", str(a)).stdout
    listed = _json(env, "list", "--status", "backlogged")
    assert [t["id"] for t in listed] == [a]  # type: ignore[index, union-attr]
    assert "backlogged 1" in " ".join(agentq(env, "stats").stdout.split())
    assert agentq(env, "release", str(a)).stdout.strip() == f"task {a} is pending again"

    bad = agentq(env, "priority", str(first), "9", check=False)
    assert bad.returncode == 2 and "a priority is 1 (low) to 5" in bad.stderr and "Traceback" not in bad.stderr
    both = agentq(env, "move", str(a), "--top", "--bottom", check=False)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    missing = agentq(env, "run", "999", check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == "agentq: error: task 999 does not exist"

    agentq(env, "worker", "--burst")
    shown = _json(env, "list", "--status", "completed", "--limit", "10")
    # The order they ran in: run-now first, then b (moved to the top of 3), a, then first (now 2).
    finished = sorted(shown, key=lambda t: t["started_at"])  # type: ignore[arg-type, index]
    assert [t["id"] for t in finished] == [low, b, a, first]


def test_enqueue_backlog_max_pending_and_retry_by_filter(env: dict[str, str]) -> None:
    agentq(env, "agents", "add", "flaky", "python", "--config", '{"target": "tests.agents.pykind_targets:boom"}',
           "--max-retries", "0", "--max-pending", "2")
    shown = agentq(env, "agents", "show", "flaky").stdout
    assert "max pending  2 waiting tasks" in shown
    assert agentq(env, "enqueue", "flaky", "--backlog").stdout.strip() == "enqueued task 1 (backlogged)"
    agentq(env, "enqueue", "flaky")
    full = agentq(env, "enqueue", "flaky", check=False)
    assert full.returncode == 2 and "limit of 2 waiting tasks (max_pending)" in full.stderr
    assert len(_json(env, "list")) == 2  # type: ignore[arg-type]

    agentq(env, "release", "1")
    agentq(env, "worker", "--burst", cwd=REPO)
    assert {t["status"] for t in _json(env, "list")} == {"failed"}  # type: ignore[union-attr, index]

    retried = agentq(env, "retry", "--agent", "flaky", cwd=REPO)
    assert retried.stdout.strip() == "retried 2 tasks (1–2)"
    nothing = agentq(env, "retry", check=False)
    assert nothing.returncode == 2 and "name the tasks to retry" in nothing.stderr
    two = agentq(env, "retry", "1", "2", "--payload", "{}", check=False)
    assert two.returncode == 2 and "give exactly one ID with --payload" in two.stderr
    agentq(env, "agents", "update", "flaky", "--max-pending", "0", "--escalate-priority")
    assert "max pending" not in agentq(env, "agents", "show", "flaky").stdout


def test_agentq_workers_shows_two_live_workers_and_one_killed_as_gone(
    env: dict[str, str], workers: Callable[..., subprocess.Popen[str]]
) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    assert "no workers seen" in agentq(env, "workers").stdout
    assert "no live worker" in agentq(env, "stats").stdout
    procs = {name: workers("--worker-id", name, "--concurrency", "2") for name in ("w1", "w2", "w3")}

    def states() -> dict[str, str]:
        return {w["id"]: w["state"] for w in _json(env, "workers")}  # type: ignore[union-attr, index]

    wait_until(lambda: states() == {"w1": "live", "w2": "live", "w3": "live"}, 60, "three live workers")
    assert "Processing: 3 live workers" in agentq(env, "stats").stdout
    procs["w3"].send_signal(signal.SIGKILL)
    procs["w3"].wait(timeout=30)
    # lease_s is 2 s in the test settings: gone once not seen for 6 s, while w1 and w2 keep beating.
    wait_until(lambda: states() == {"w1": "live", "w2": "live", "w3": "gone"}, 60, "w3 gone, w1 and w2 live")

    table = agentq(env, "workers").stdout
    lines = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert table.splitlines()[0].split()[:3] == ["WORKER", "STATE", "HOST"]
    assert lines["w1"][1] == "live" and lines["w3"][1] == "gone" and lines["w3"][3] == str(procs["w3"].pid)
    stats = _json(env, "stats")
    assert stats["processing"] is True and stats["live_workers"] == 2  # type: ignore[index, call-overload]
    agentq(env, "pause")
    assert "the queue is paused, so they claim nothing new" in agentq(env, "stats").stdout
    assert _json(env, "stats")["processing"] is False  # type: ignore[index, call-overload]

    procs["w1"].send_signal(signal.SIGTERM)
    assert procs["w1"].wait(timeout=30) == 0
    assert states()["w1"] == "stopped"


def test_the_worker_logs_completions_with_their_duration_and_failures_with_their_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "agents", "add", "boom", "python", "--config", '{"target": "tests.agents.pykind_targets:boom"}',
           "--max-retries", "0")
    agentq(env, "enqueue", "echo", "--type", "quick")
    agentq(env, "enqueue", "boom", "--type", "slow")

    agentq(env, "worker", "--burst", "--task-types", "quick", cwd=REPO)
    assert [t["status"] for t in _json(env, "list")] == ["pending", "completed"]  # type: ignore[union-attr, index]
    agentq(env, "worker", "--burst", "--task-types", "slow,quick", cwd=REPO)

    log = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log*"))
    assert " INFO " in log and "task 1 (echo) completed in " in log
    failure = log.split("task 2 (boom) failed after ", 1)[1]
    assert "Traceback (most recent call last):" in failure and "pykind_targets.py" in failure
    empty = agentq(env, "worker", "--task-types", " , ", check=False)
    assert empty.returncode == 2 and "task-types: name at least one" in empty.stderr


def test_cleanup_archive_then_list_and_export(env: dict[str, str], tmp_path: Path) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    agentq(env, "agents", "add", "other", "echo")
    agentq(env, "enqueue", "echo", "--payload", '{"n": 1}')
    agentq(env, "enqueue", "other", "--payload", '{"n": 2}')
    agentq(env, "worker", "--burst")
    assert "the archive is empty" in agentq(env, "archive", "list").stdout

    done = agentq(env, "cleanup", "--older-than", "0s", "--archive").stdout
    assert done.startswith("archived (in ") and "and deleted 2 finished tasks" in done
    assert agentq(env, "list").stdout.strip() == "no tasks"
    listed = agentq(env, "archive", "list").stdout.splitlines()
    assert listed[0].split() == ["FILE", "TASKS", "BYTES", "WRITTEN"] and listed[1].split()[1] == "2"
    assert str(tmp_path / "data" / "archive") in listed[-1]

    lines = agentq(env, "archive", "export", "--agent", "other").stdout.splitlines()
    [record] = [json.loads(line) for line in lines]
    assert record["task"]["payload"] == {"n": 2} and record["attempts"][0]["outcome"] == "completed"
    assert len(agentq(env, "archive", "export", "--since", "1d").stdout.splitlines()) == 2
    assert agentq(env, "archive", "export", "--since", "2999-01-01").stdout == ""
    bad = agentq(env, "archive", "export", "--since", "last week", check=False)
    assert bad.returncode == 2 and "is not an ISO 8601 date or time" in bad.stderr
