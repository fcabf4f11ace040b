"""Repository tasks on a real worker pool: real git repositories and worktrees, the fake agents as real
subprocesses. Each task gets its workspace before its agent starts and its changes read after."""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gitrepos import FAKES, commit_file, git, install_program, prepend_path
from pools import FAKE_CLAUDE, runs, wait_finished
from pytestqt.qtbot import QtBot

from desktop.cli import main as agentq
from desktop.queue import Repo, Task, TaskQueueService, TaskStatus
from desktop.workers import execution
from desktop.workers.pool import WorkerPool
from desktop.workspaces.registration import register_repo
from desktop.workspaces.task_runs import clones_dir, patch_path

Pool = Callable[..., WorkerPool]


def add_repo(queue: TaskQueueService, location: Path | str, **settings: Any) -> Repo:
    return register_repo(queue, str(location), clones_dir(), **settings)


def add_coder(queue: TaskQueueService, **settings: Any) -> None:
    """The agent "coder": the fake Claude Code."""
    queue.add_agent("coder", "claude", {"cli": FAKE_CLAUDE}, **settings)


def run_one(qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, prompt: str, agent: str = "coder") -> Task:
    """Queue `prompt` for `agent` in "repo", start the pool, and return the task once it has finished."""
    task = queue.enqueue(agent, {"prompt": prompt}, repo="repo")
    start_pool()
    [done] = wait_finished(qtbot, queue, task.id)
    return done


def test_a_claude_task_works_in_its_own_worktree_and_branch_and_leaves_a_diff(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path
) -> None:
    (repo / ".env").write_text("TOKEN=local\n")  # ignored by git: only a copy pattern brings it over
    setup = """sh -c 'mkdir -p build && echo "$AGENTQ_BRANCH $PORT" > build/setup.out'"""
    add_repo(queue, repo, copy=[".env"], setup=setup)
    add_coder(queue)
    done = run_one(qtbot, queue, start_pool, "Fix the greeting")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    result = done.result
    branch = f"agentq/{done.id}-fix-the-greeting"
    worktree = Path(result["worktree"])
    assert result["branch"] == branch and worktree.parent.name == "repo" and worktree.is_dir()
    assert result["base_commit"] == result["head_commit"] == git(repo, "rev-parse", "main")
    assert result["files_changed"] == [{"path": "agent-output.txt", "added": 1, "removed": 0}]
    assert (result["commits"], result["uncommitted"], result["session_id"] is not None) == (0, True, True)
    [run] = runs(agent_log)
    assert Path(run["cwd"]).resolve() == worktree
    port = run["env"]["PORT"]
    expected_env = {"AGENTQ_TASK_ID": str(done.id), "AGENTQ_WORKTREE": str(worktree), "AGENTQ_BRANCH": branch}
    assert {k: run["env"][k] for k in expected_env} == expected_env and 20000 <= int(port) <= 29999
    assert run["argv"][run["argv"].index("--add-dir") + 1] == str((repo / ".git").resolve())  # so it can commit
    assert (worktree / ".env").read_text() == "TOKEN=local\n"
    assert (worktree / "build" / "setup.out").read_text() == f"{branch} {port}\n"
    # The user's own checkout is untouched: still on main, clean.
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main" and git(repo, "status", "--porcelain") == ""
    record = queue.task_workspace(done.id)
    assert record is not None and record.created and record.path == str(worktree) and record.port == int(port)
    assert record.summary == {k: result[k] for k in record.summary}
    patch = patch_path(done.id).read_text()
    assert "+done: Fix the greeting" in patch and ".env" not in patch
    out = io.StringIO()
    assert agentq(["--db", str(queue.engine.url.database), "diff", str(done.id)], out=out) == 0
    assert out.getvalue() == patch


def test_a_failing_setup_fails_the_attempt_with_its_output_and_the_agent_never_starts(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path
) -> None:
    add_repo(queue, repo, setup="sh -c 'echo npm ERR! missing script: ci; exit 3'")
    add_coder(queue, max_retries=0)
    done = run_one(qtbot, queue, start_pool, "anything")
    assert done.status is TaskStatus.FAILED
    assert "exit code 3" in (done.last_error or "") and "npm ERR! missing script: ci" in (done.last_error or "")
    assert runs(agent_log) == []


def test_the_worktree_is_recorded_before_the_agent_starts(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pid_file = tmp_path / "agent.pid"
    monkeypatch.setenv("FAKE_PID_FILE", str(pid_file))
    add_repo(queue, repo)
    add_coder(queue)
    task = queue.enqueue("coder", {"prompt": "wait [fake:hang]"}, repo="repo")
    start_pool()
    qtbot.waitUntil(pid_file.exists, timeout=20_000)  # the agent runs now
    record = queue.task_workspace(task.id)
    assert record is not None and record.created and Path(record.path).is_dir() and record.base_commit
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 2
    queue.cancel(task.id)
    [done] = wait_finished(qtbot, queue, task.id)
    assert done.status is TaskStatus.CANCELLED
    summary = queue.task_workspace(task.id).summary  # type: ignore[union-attr]
    assert summary is not None and summary["files_changed"] == []  # read after it stopped, too


def test_a_command_agent_runs_in_the_worktree_with_its_placeholders(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path
) -> None:
    add_repo(queue, repo)
    script = 'printf "%s %s %s\\n" "$1" "$2" "$AGENTQ_TASK_ID" > out.txt'
    queue.add_agent("script", "command", {"argv": ["sh", "-c", script, "sh", "{worktree}", "{branch}"]})
    done = run_one(qtbot, queue, start_pool, "write it", "script")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    worktree = Path(done.result["worktree"])
    assert (worktree / "out.txt").read_text() == f"{worktree} agentq/{done.id}-write-it {done.id}\n"
    assert [f["path"] for f in done.result["files_changed"]] == ["out.txt"]


def test_a_retry_resumes_the_session_in_the_same_worktree(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path
) -> None:
    add_repo(queue, repo)
    add_coder(queue, max_retries=1)
    done = run_one(qtbot, queue, start_pool, "Fix it [fake:overloaded-once]")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    first, second = queue.attempts(done.id)
    assert first.outcome == "failed" and "passing reason" in (first.error or "")
    session = first.details["session_id"]
    one, two = runs(agent_log)
    assert "--resume" not in one["argv"] and two["argv"][two["argv"].index("--resume") + 1] == session
    assert one["cwd"] == two["cwd"] == done.result["worktree"] and second.details["session_id"] == session


def test_a_rate_limited_run_is_parked_and_then_completes_with_no_retries_allowed(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execution, "PARK_MARGIN_S", 0.2)
    monkeypatch.setenv("FAKE_RESETS_AT", str(int(time.time()) + 1))
    add_repo(queue, repo)
    add_coder(queue, max_retries=0)
    done = run_one(qtbot, queue, start_pool, "Fix it [fake:rate-limit-once]")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    parked, completed = queue.attempts(done.id)
    assert (parked.outcome, completed.outcome) == ("parked", "completed")
    assert "usage limit" in (parked.error or "") and done.max_retries == 0
    assert len(runs(agent_log)) == 2


def test_a_follow_up_runs_in_its_parents_worktree_and_branch_resuming_its_session(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path
) -> None:
    add_repo(queue, repo)
    add_coder(queue)
    parent = queue.enqueue("coder", {"prompt": "Add the feature [commit]"}, repo="repo")
    follow = queue.enqueue("coder", {"prompt": "Now the tests [commit]"}, follow_up_of=parent.id)
    assert follow.repo == "repo" and follow.status is TaskStatus.BLOCKED and queue.dependencies(follow.id) == [parent.id]
    start_pool()
    first, second = wait_finished(qtbot, queue, parent.id, follow.id)
    assert first.status is second.status is TaskStatus.COMPLETED, (first.last_error, second.last_error)
    one, two = runs(agent_log)
    assert one["cwd"] == two["cwd"] == first.result["worktree"] == second.result["worktree"]
    assert two["argv"][two["argv"].index("--resume") + 1] == first.result["session_id"]
    assert second.result["branch"] == first.result["branch"] and second.result["base_commit"] == first.result["head_commit"]
    assert second.result["commits"] == 1 and git(repo, "rev-list", "--count", f"main..{first.result['branch']}") == "2"
    assert not queue.task_workspace(follow.id).created  # type: ignore[union-attr]


def test_after_a_success_leftovers_are_committed_the_branch_pushed_and_a_pull_request_opened(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, remote: Path, agent_log: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_program(tmp_path / "bin", "gh", FAKES / "fake_gh.py")
    prepend_path(monkeypatch, tmp_path / "bin")
    monkeypatch.setenv("FAKE_GH_LOG", str(tmp_path / "gh.jsonl"))
    add_repo(queue, repo, push=True, open_pr=True, commit_uncommitted=True)
    add_coder(queue)
    done = run_one(qtbot, queue, start_pool, "Add the feature")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    result = done.result
    assert (result["committed"], result["uncommitted"], result["commits"], result["pushed"]) == (True, False, 1, True)
    assert git(remote, "rev-parse", result["branch"]) == result["head_commit"]
    assert git(repo, "log", "-1", "--format=%s", result["branch"]) == "Add the feature"
    assert result["pr_url"] == "https://github.com/example/repo/pull/17"
    [call] = runs(tmp_path / "gh.jsonl")
    assert call["args"][call["args"].index("--base") + 1] == "main"


def test_a_push_that_fails_is_a_note_and_the_task_still_completes(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, remote: Path
) -> None:
    add_repo(queue, repo, push=True)
    shutil.rmtree(remote)  # the remote is gone
    add_coder(queue)
    done = run_one(qtbot, queue, start_pool, "Add it [commit]")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    assert done.result["pushed"] is False and any(n.startswith("not pushed to origin") for n in done.result["notes"])
    assert "not pushed to origin" in (queue.attempts(done.id)[0].output_tail or "")


def test_a_url_is_cloned_once_fetched_before_each_task_and_a_failed_fetch_only_says_so(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, remote: Path, tmp_path: Path
) -> None:
    url = f"file://{remote}"
    registered = add_repo(queue, url)
    assert registered.cloned and Path(registered.local_path).parent == clones_dir()
    newer = commit_file(repo, "src/new.py", "x = 1\n")
    git(repo, "push", "-q", "origin", "main")  # after the clone: only a fetch brings it
    add_coder(queue)
    first = queue.enqueue("coder", {"prompt": "one"}, repo=url)
    start_pool()
    [done] = wait_finished(qtbot, queue, first.id)
    assert done.status is TaskStatus.COMPLETED and done.result["base_commit"] == newer
    remote.rename(tmp_path / "moved.git")  # offline
    second = queue.enqueue("coder", {"prompt": "two"}, repo=registered.name)
    [done] = wait_finished(qtbot, queue, second.id)
    assert done.status is TaskStatus.COMPLETED, done.last_error
    assert "could not fetch origin (offline?)" in (queue.attempts(second.id)[0].output_tail or "")


def test_tasks_running_at_once_get_ports_no_other_holds(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_AGENT_DELAY_S", "1.0")
    add_repo(queue, repo, max_parallel=3)
    add_coder(queue, concurrency=3)
    tasks = [queue.enqueue("coder", {"prompt": f"task {n}"}, repo="repo") for n in range(3)]
    start_pool(concurrency=3)
    done = wait_finished(qtbot, queue, *(t.id for t in tasks))
    assert {t.status for t in done} == {TaskStatus.COMPLETED}
    started = [a for t in tasks for a in queue.attempts(t.id)]
    assert max(a.started_at for a in started) < min(a.finished_at for a in started if a.finished_at)  # all at once
    ports = [run["env"]["PORT"] for run in runs(agent_log)]
    assert len(set(ports)) == 3 and len({run["cwd"] for run in runs(agent_log)}) == 3


def test_in_place_tasks_run_in_the_clone_itself(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path, agent_log: Path
) -> None:
    add_repo(queue, repo, mode="in-place")
    add_coder(queue, concurrency=2)
    done = run_one(qtbot, queue, start_pool, "Edit in place")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    [run] = runs(agent_log)
    assert Path(run["cwd"]).resolve() == repo.resolve() and "--add-dir" not in run["argv"]
    assert done.result["branch"] == "main" and done.result["files_changed"][0]["path"] == "agent-output.txt"
    assert not queue.task_workspace(done.id).created  # type: ignore[union-attr]
    assert (repo / "agent-output.txt").exists()


def test_when_the_changes_cannot_be_read_the_agents_outcome_stands_with_a_note(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Pool, repo: Path
) -> None:
    add_repo(queue, repo)
    queue.add_agent("wrecker", "command", {"argv": ["sh", "-c", 'cd / && rm -rf "$AGENTQ_WORKTREE"']})
    done = run_one(qtbot, queue, start_pool, "wreck it", "wrecker")
    assert done.status is TaskStatus.COMPLETED, done.last_error
    [note] = done.result["notes"]
    assert note.startswith("could not read what the task changed in") and done.result["branch"].startswith("agentq/")
