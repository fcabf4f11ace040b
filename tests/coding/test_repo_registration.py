"""Registering repositories and enqueueing work on them: the lock key's capacity kept in step, and bad
input refused with a message naming it, writing nothing (the tables and the clones folder checked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepos import FAKES, git
from pools import FAKE_CLAUDE
from sqlalchemy import text

from desktop.errors import NotFoundError, TaskStateError, TaskValidationError
from desktop.queue import TaskQueueService, repo_lock_key
from desktop.workspaces.git import WorkspaceError
from desktop.workspaces.registration import forget_repo, register_repo
from desktop.workspaces.task_runs import clones_dir


def rows(queue: TaskQueueService, table: str) -> int:
    with queue.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def nothing_written(queue: TaskQueueService) -> None:
    assert (rows(queue, "repos"), rows(queue, "lock_keys"), rows(queue, "tasks"), rows(queue, "workspaces")) == (
        0, 0, 0, 0
    )
    assert not clones_dir().exists() or list(clones_dir().iterdir()) == []


def test_a_repository_gets_its_lock_key_with_the_capacity_of_its_mode_kept_in_step(
    queue: TaskQueueService, repo: Path
) -> None:
    added = register_repo(queue, str(repo), clones_dir(), max_parallel=3)
    assert (added.name, added.source, added.local_path, added.base_branch) == ("repo", str(repo), str(repo), "main")
    assert added.lock_key == repo_lock_key(repo) and queue.lock_capacity(added.lock_key) == 3
    assert queue.update_repo("repo", mode="in-place").capacity == 1 and queue.lock_capacity(added.lock_key) == 1
    assert queue.update_repo("repo", mode="worktree", max_parallel=2).capacity == 2
    assert queue.lock_capacity(added.lock_key) == 2
    queue.add_agent("coder", "claude", {"cli": FAKE_CLAUDE})
    for ref in ("repo", str(repo), str(repo) + "/"):
        task = queue.enqueue("coder", {"prompt": "x"}, repo=ref)
        assert (task.repo, task.lock_key) == ("repo", added.lock_key)


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"mode": "sideways"}, "mode", "worktree or in-place"),
        ({"max_parallel": 0}, "max_parallel", "1 or more"),
        ({"mode": "in-place", "push": True}, "push", "worktree mode only"),
        ({"mode": "in-place", "commit_uncommitted": True}, "commit_uncommitted", "worktree mode only"),
        ({"open_pr": True}, "open_pr", "needs push"),
        ({"copy": ["../secrets"]}, "copy[0]", "stay inside"),
        ({"setup": "   "}, "setup", "must name a program to run"),
        ({"base": "no-such-branch"}, "base", "'no-such-branch' names no branch"),
        ({"name": "bad name!"}, "name", "letters, digits"),
    ],
)
def test_bad_settings_are_refused_by_name_and_write_nothing(
    queue: TaskQueueService, repo: Path, settings: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(TaskValidationError) as caught:
        register_repo(queue, str(repo), clones_dir(), **settings)  # type: ignore[arg-type]
    assert caught.value.field == field and words in caught.value.rule
    nothing_written(queue)


def test_a_folder_that_is_not_a_repository_or_an_unreachable_url_is_refused_and_writes_nothing(
    queue: TaskQueueService, tmp_path: Path, remote: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for location, words in (
        (plain, "is not a git repository"),
        (tmp_path / "missing", "does not exist"),
        (remote, "is a bare repository"),
        (Path(git(tmp_path / "repo", "rev-parse", "--show-toplevel")) / "src", "give its top folder"),
        (f"file://{tmp_path}/nowhere.git", "cannot clone 'file://"),
        ("https://127.0.0.1:9/app.git", "cannot clone 'https://127.0.0.1:9/app.git'"),
    ):
        with pytest.raises(TaskValidationError) as caught:
            register_repo(queue, str(location), clones_dir())
        assert caught.value.field == "source" and words in caught.value.rule, caught.value
        nothing_written(queue)
    with pytest.raises(TaskValidationError, match="'origin/nope' names no branch"):
        register_repo(queue, f"file://{remote}", clones_dir(), base="nope")  # cloned, then undone
    nothing_written(queue)


def test_a_name_or_a_source_registered_twice_is_refused(queue: TaskQueueService, repo: Path, tmp_path: Path) -> None:
    register_repo(queue, str(repo), clones_dir())
    with pytest.raises(TaskValidationError, match="already registered as 'repo'"):
        register_repo(queue, str(repo), clones_dir(), name="again")
    other = tmp_path / "elsewhere" / "repo"
    other.mkdir(parents=True)
    git(other, "init", "-q", "-b", "main")
    git(other, "commit", "-q", "--allow-empty", "-m", "x")
    with pytest.raises(TaskValidationError, match="a repository named 'repo' is already registered"):
        register_repo(queue, str(other), clones_dir())
    assert [r.name for r in queue.list_repos()] == ["repo"]


def test_enqueue_refuses_bad_coding_tasks_by_field_and_writes_nothing(queue: TaskQueueService, repo: Path) -> None:
    register_repo(queue, str(repo), clones_dir())
    queue.add_agent("coder", "claude", {"cli": FAKE_CLAUDE})
    queue.add_agent("echo", "echo")
    cases = [
        ({"agent": "coder", "payload": {"prompt": ""}, "repo": "repo"}, "payload.prompt", "non-empty string"),
        ({"agent": "coder", "payload": {"prompt": "x"}, "repo": "nope"}, "repo", "agentq repos add nope"),
        ({"agent": "coder", "payload": {"prompt": "x"}}, "repo", "works in a repository"),
        ({"agent": "coder", "payload": "fix it", "repo": "repo"}, "payload", "JSON object"),
        ({"agent": "coder", "payload": {"prompt": "x"}, "repo": "repo", "lock_key": "k"}, "lock_key", "leave lock_key out"),
        ({"agent": "echo", "follow_up_of": 999}, "follow_up_of", "task 999 does not exist"),
    ]
    for values, field, words in cases:
        with pytest.raises(TaskValidationError) as caught:
            queue.enqueue(**values)  # type: ignore[arg-type]
        assert caught.value.field == field and words in caught.value.rule, (values, caught.value)
        with pytest.raises(TaskValidationError) as caught:
            queue.enqueue_many([{"agent": "echo"}, values])
        assert caught.value.field == f"items[1].{field}", caught.value
    assert rows(queue, "tasks") == 0
    plain = queue.enqueue("echo")
    with pytest.raises(TaskValidationError, match=f"task {plain.id} works on no repository"):
        queue.enqueue("echo", follow_up_of=plain.id)
    parent = queue.enqueue("echo", repo="repo")
    queue.add_repo("other", source="/elsewhere", local_path="/elsewhere")
    with pytest.raises(TaskValidationError, match="its parent's repository"):
        queue.enqueue("echo", follow_up_of=parent.id, repo="other")
    assert rows(queue, "tasks") == 2


def test_removing_a_repository_keeps_its_folder_and_waits_for_its_tasks(queue: TaskQueueService, repo: Path) -> None:
    register_repo(queue, str(repo), clones_dir())
    queue.add_agent("echo", "echo")
    task = queue.enqueue("echo", repo="repo")
    with pytest.raises(TaskStateError, match="unfinished tasks"):
        forget_repo(queue, "repo")
    queue.cancel(task.id)
    with pytest.raises(TaskValidationError, match="your own clone"):
        forget_repo(queue, "repo", delete_clone=True)
    forget_repo(queue, "repo")
    assert queue.list_repos() == [] and (repo / ".git").is_dir()
    with pytest.raises(NotFoundError):
        queue.get_repo("repo")


def test_the_apps_clone_is_deleted_only_when_asked_and_only_when_it_holds_no_unpushed_work(
    queue: TaskQueueService, repo: Path, remote: Path
) -> None:
    cloned = register_repo(queue, f"file://{remote}", clones_dir(), name="app")
    clone = Path(cloned.local_path)
    assert cloned.cloned and clone.parent == clones_dir() and (clone / ".git").is_dir()
    git(clone, "switch", "-q", "-c", "local-work")
    git(clone, "commit", "-q", "--allow-empty", "-m", "only here")
    with pytest.raises(WorkspaceError, match="1 commit\\(s\\) on no remote branch"):
        forget_repo(queue, "app", delete_clone=True)
    assert queue.get_repo("app") and clone.is_dir()
    git(clone, "push", "-q", "origin", "local-work")
    forget_repo(queue, "app", delete_clone=True)
    assert not clone.exists() and queue.list_repos() == [] and (FAKES / "fake_claude.py").exists()
