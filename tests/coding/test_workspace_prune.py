"""Pruning worktrees of finished tasks never loses work: a dirty or unmerged worktree is kept (unless
forced), and nothing the app did not create is ever removed: the clone in place, a user's own
worktree, a folder a follow-up still needs."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

from gitrepos import add_origin, git
from pools import FAKE_CLAUDE, wait_finished
from pytestqt.qtbot import QtBot

from desktop.cli import main as agentq
from desktop.queue import TaskQueueService, TaskStatus
from desktop.workers.pool import WorkerPool
from desktop.workspaces.cleanup import WorkspacePruner
from desktop.workspaces.registration import register_repo
from desktop.workspaces.task_runs import clones_dir

HOUR = 3600.0


def run_tasks(qtbot: QtBot, queue: TaskQueueService, start_pool: Callable[..., WorkerPool], repo: Path) -> dict[str, int]:
    """Four finished tasks: one left commits on its branch, one uncommitted changes, one nothing,
    one ran in the clone itself."""
    register_repo(queue, str(repo), clones_dir(), max_parallel=3)
    queue.add_agent("coder", "claude", {"cli": FAKE_CLAUDE}, concurrency=3)
    queue.add_agent("noop", "command", {"argv": ["true"]})
    ids = {
        "unmerged": queue.enqueue("coder", {"prompt": "Commit it [commit]"}, repo="repo").id,
        "dirty": queue.enqueue("coder", {"prompt": "Leave it"}, repo="repo").id,
        "clean": queue.enqueue("noop", repo="repo").id,
    }
    start_pool(concurrency=3)
    done = wait_finished(qtbot, queue, *ids.values())
    assert {t.status for t in done} == {TaskStatus.COMPLETED}, [t.last_error for t in done]
    return ids


def folder(queue: TaskQueueService, task_id: int) -> Path:
    record = queue.task_workspace(task_id)
    assert record is not None
    return Path(record.path)


def test_prune_removes_only_worktrees_that_lose_nothing_and_only_those_it_created(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Callable[..., WorkerPool], repo: Path, tmp_path: Path
) -> None:
    ids = run_tasks(qtbot, queue, start_pool, repo)
    mine = tmp_path / "my-own-worktree"
    git(repo, "worktree", "add", "-q", "-b", "agentq/999-mine", str(mine))  # looks like ours; is not recorded
    later = time.time() + 2 * HOUR
    assert WorkspacePruner(queue, 3 * HOUR).run_once(later) == []  # finished too recently
    pruned = {p.record.task_id: p.result for p in WorkspacePruner(queue, HOUR).run_once(later)}
    assert set(pruned) == set(ids.values())
    assert pruned[ids["clean"]].removed and not folder(queue, ids["clean"]).exists()
    assert not pruned[ids["dirty"]].removed and "uncommitted changes: agent-output.txt" in (pruned[ids["dirty"]].reason or "")
    unmerged = pruned[ids["unmerged"]]
    assert not unmerged.removed and "1 commit(s) reachable from no other branch or remote" in (unmerged.reason or "")
    assert folder(queue, ids["dirty"]).is_dir() and folder(queue, ids["unmerged"]).is_dir()
    assert mine.is_dir() and (repo / ".git").is_dir() and git(repo, "status", "--porcelain") == ""
    branches = git(repo, "branch", "--format=%(refname:short)").splitlines()
    assert f"agentq/{ids['clean']}-noop-task" in branches  # branches are kept unless asked

    # Pushed (or merged), the commits are safe elsewhere: the worktree goes, and its branch if asked.
    branch = queue.get(ids["unmerged"]).result["branch"]
    add_origin(repo, tmp_path / "remote.git")
    git(repo, "push", "-q", "origin", branch)
    [again] = [p for p in WorkspacePruner(queue, HOUR, delete_branches=True).run_once(later)
               if p.record.task_id == ids["unmerged"]]
    assert again.result.removed and again.result.branch_deleted and branch not in git(repo, "branch")
    # Forced, the dirty one goes too; the user's own worktree and the clone never do.
    forced = WorkspacePruner(queue, HOUR, force=True).run_once(later)
    assert [(p.record.task_id, p.result.removed) for p in forced] == [(ids["dirty"], True)]
    assert mine.is_dir() and (repo / "src" / "app.py").exists()
    assert WorkspacePruner(queue, 0, force=True).run_once(later) == []  # all that it made is gone


def test_a_folder_a_follow_up_still_needs_is_kept_and_the_clone_in_place_is_never_a_candidate(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Callable[..., WorkerPool], repo: Path
) -> None:
    register_repo(queue, str(repo), clones_dir())
    queue.add_agent("noop", "command", {"argv": ["true"]})
    parent = queue.enqueue("noop", repo="repo")
    start_pool()
    wait_finished(qtbot, queue, parent.id)
    queue.pause("noop")
    follow = queue.enqueue("noop", follow_up_of=parent.id)  # waits: its agent is paused
    assert WorkspacePruner(queue, 0).run_once(time.time() + HOUR) == []
    queue.cancel(follow.id)
    [pruned] = WorkspacePruner(queue, 0).run_once(time.time() + HOUR)
    assert pruned.result.removed and pruned.record.task_id == parent.id
    queue.update_repo("repo", mode="in-place")
    queue.resume("noop")
    in_place = queue.enqueue("noop", repo="repo")
    wait_finished(qtbot, queue, in_place.id)
    assert WorkspacePruner(queue, 0, force=True).run_once(time.time() + HOUR) == []
    assert (repo / ".git").is_dir()


def test_the_retention_pass_of_a_pool_prunes_with_the_same_rules(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Callable[..., WorkerPool], repo: Path
) -> None:
    ids = run_tasks(qtbot, queue, start_pool, repo)
    start_pool(retention_days=1e-9)  # its first retention pass, at start, finds them all past the period
    qtbot.waitUntil(lambda: queue.task_workspace(ids["clean"]).removed_at is not None, timeout=20_000)  # type: ignore[union-attr]
    assert not folder(queue, ids["clean"]).exists()  # removed first, then marked so
    assert folder(queue, ids["dirty"]).is_dir() and folder(queue, ids["unmerged"]).is_dir()


def test_agentq_repos_prune_says_what_it_removed_and_why_it_kept_the_rest(
    qtbot: QtBot, queue: TaskQueueService, start_pool: Callable[..., WorkerPool], repo: Path
) -> None:
    ids = run_tasks(qtbot, queue, start_pool, repo)
    out = io.StringIO()
    db = str(queue.engine.url.database)
    assert agentq(["--db", db, "repos", "prune", "--older-than", "1h"], out=out) == 0
    assert out.getvalue().startswith("nothing to prune: no worktree of a task finished over 1h ago")
    out = io.StringIO()
    assert agentq(["--db", db, "repos", "prune", "repo", "--older-than", "0s"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert f"removed {folder(queue, ids['clean'])} (task {ids['clean']}); branch agentq/{ids['clean']}-noop-task kept" in lines
    assert any(line.startswith(f"kept {folder(queue, ids['dirty'])} (task {ids['dirty']}): it has uncommitted") for line in lines)
    assert agentq(["--db", db, "repos", "prune", "nope"], out=io.StringIO()) == 1
