"""Prune never loses work: dirty or unmerged worktrees are skipped with the reason, nothing the app
did not create is removed, branches are kept unless asked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from gitrepos import commit_file, git

from desktop.workspaces import (
    Workspace,
    copy_untracked,
    create_worktree,
    in_place_workspace,
    prune_workspace,
    prune_workspaces,
    push_branch,
)


@pytest.fixture
def ws(repo: Path, worktrees_dir: Path) -> Workspace:
    return create_worktree(repo, 11, "Tidy up", worktrees_dir, "main")


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").splitlines())


def test_a_clean_worktree_with_nothing_new_is_removed_and_its_branch_kept(repo: Path, ws: Workspace) -> None:
    result = prune_workspace(ws)
    assert result.removed and result.reason is None and not result.branch_deleted
    assert not Path(ws.path).exists()
    assert ws.path not in git(repo, "worktree", "list", "--porcelain")
    assert ws.branch in branches(repo)
    assert (repo / "README.md").exists()


def test_the_branch_is_deleted_only_when_asked(repo: Path, ws: Workspace) -> None:
    result = prune_workspace(ws, delete_branch=True)
    assert result.removed and result.branch_deleted
    assert ws.branch not in branches(repo)


def test_uncommitted_changes_keep_the_worktree(ws: Workspace) -> None:
    (Path(ws.path) / "src" / "app.py").write_text("changed\n")
    (Path(ws.path) / "new.txt").write_text("new\n")
    result = prune_workspace(ws)
    assert not result.removed
    assert result.reason == "it has uncommitted changes: src/app.py, new.txt"
    assert (Path(ws.path) / "new.txt").read_text() == "new\n"


def test_commits_on_no_other_branch_or_remote_keep_the_worktree_and_the_branch(repo: Path, ws: Workspace) -> None:
    commit_file(Path(ws.path), "work.txt", "precious\n")
    result = prune_workspace(ws, delete_branch=True)
    assert not result.removed and "1 commit(s) reachable from no other branch or remote" in (result.reason or "")
    assert (Path(ws.path) / "work.txt").exists() and ws.branch in branches(repo)


def test_commits_the_agent_left_on_a_detached_head_keep_the_worktree(ws: Workspace) -> None:
    git(ws.path, "checkout", "-q", "--detach")
    commit_file(Path(ws.path), "detached.txt", "lost if removed\n")
    result = prune_workspace(ws)
    assert not result.removed and "reachable from no other branch" in (result.reason or "")


def test_pushed_commits_are_safe_so_the_worktree_goes_but_the_branch_stays(
    repo: Path, remote: Path, ws: Workspace
) -> None:
    commit_file(Path(ws.path), "work.txt", "pushed\n")
    assert push_branch(ws) is None
    result = prune_workspace(ws)
    assert result.removed and not Path(ws.path).exists()
    assert ws.branch in branches(repo)


def test_merged_commits_are_safe(repo: Path, ws: Workspace) -> None:
    commit_file(Path(ws.path), "work.txt", "merged\n")
    git(repo, "merge", "-q", "--ff-only", ws.branch)
    result = prune_workspace(ws, delete_branch=True)
    assert result.removed and result.branch_deleted


def test_unmerged_branch_is_kept_when_asked_to_delete_it_unless_forced(repo: Path, ws: Workspace) -> None:
    commit_file(Path(ws.path), "work.txt", "mine\n")
    other = dataclasses.replace(ws)  # the same record, pruned twice: first refused, then forced
    assert not prune_workspace(other, delete_branch=True).removed
    forced = prune_workspace(other, force=True, delete_branch=True)
    assert forced.removed and forced.branch_deleted


def test_force_removes_a_dirty_worktree(repo: Path, ws: Workspace) -> None:
    (Path(ws.path) / "scratch.txt").write_text("throwaway\n")
    result = prune_workspace(ws, force=True)
    assert result.removed and not Path(ws.path).exists()
    assert ws.branch in branches(repo)


def test_the_apps_own_unchanged_copies_do_not_block_removal(repo: Path, ws: Workspace) -> None:
    (repo / "local.env").write_text("K=1\n")  # not ignored: git would call it untracked
    ws = dataclasses.replace(ws, copied=tuple(copy_untracked(repo, ws.path, ["local.env"])))
    result = prune_workspace(ws)
    assert result.removed and not Path(ws.path).exists()
    assert (repo / "local.env").read_text() == "K=1\n"  # the user's original is untouched


def test_a_copy_the_agent_changed_blocks_removal(repo: Path, ws: Workspace) -> None:
    (repo / "local.env").write_text("K=1\n")
    ws = dataclasses.replace(ws, copied=tuple(copy_untracked(repo, ws.path, ["local.env"])))
    (Path(ws.path) / "local.env").write_text("K=2\n")
    result = prune_workspace(ws)
    assert not result.removed and result.reason == "it has uncommitted changes: local.env"


def test_ignored_build_output_does_not_block_removal(ws: Workspace) -> None:
    (Path(ws.path) / "build").mkdir()
    (Path(ws.path) / "build" / "app.bin").write_text("rebuilt from the sources\n")
    assert prune_workspace(ws).removed


def test_a_workspace_not_created_by_the_app_is_never_removed_even_forced(repo: Path) -> None:
    mine = in_place_workspace(repo)
    result = prune_workspace(mine, force=True, delete_branch=True)
    assert not result.removed and result.reason == "not created by Agent Queue; it is never removed"
    assert (repo / "README.md").exists() and "main" in branches(repo)


def test_a_record_pointing_at_the_repository_itself_is_never_removed(repo: Path) -> None:
    forged = dataclasses.replace(in_place_workspace(repo), created=True)
    result = prune_workspace(forged, force=True)
    assert not result.removed and "the repository's own folder" in (result.reason or "")
    assert (repo / ".git").exists() and (repo / "README.md").exists()


def test_a_folder_git_does_not_list_as_a_worktree_is_left_alone(tmp_path: Path, repo: Path, ws: Workspace) -> None:
    stranger = tmp_path / "someone-elses"
    stranger.mkdir()
    (stranger / "data.txt").write_text("not ours\n")
    forged = dataclasses.replace(ws, path=str(stranger))
    result = prune_workspace(forged, force=True)
    assert not result.removed and "git does not list it as a worktree" in (result.reason or "")
    assert (stranger / "data.txt").exists()


def test_a_worktree_of_another_repository_is_left_alone(tmp_path: Path, repo: Path, ws: Workspace) -> None:
    from gitrepos import make_repo

    other = make_repo(tmp_path / "other")
    forged = dataclasses.replace(ws, repo_path=str(other))
    result = prune_workspace(forged, force=True)
    assert not result.removed and Path(ws.path).exists()


def test_a_worktree_whose_folder_is_gone_is_dropped_from_gits_records(repo: Path, ws: Workspace) -> None:
    import shutil

    shutil.rmtree(ws.path)  # the user deleted it by hand
    result = prune_workspace(ws)
    assert result.removed
    assert ws.path not in git(repo, "worktree", "list", "--porcelain")


def test_pruning_many_reports_each(repo: Path, worktrees_dir: Path) -> None:
    clean = create_worktree(repo, 1, "clean", worktrees_dir, "main")
    dirty = create_worktree(repo, 2, "dirty", worktrees_dir, "main")
    (Path(dirty.path) / "wip.txt").write_text("wip\n")
    results = prune_workspaces([clean, dirty, in_place_workspace(repo)])
    assert [r.removed for r in results] == [True, False, False]
    assert results[1].reason == "it has uncommitted changes: wip.txt"


def test_a_branch_the_app_does_not_name_is_never_deleted(repo: Path, ws: Workspace) -> None:
    git(repo, "branch", "users-own")
    forged = dataclasses.replace(ws, branch="users-own")
    result = prune_workspace(forged, force=True, delete_branch=True)
    assert result.removed and not result.branch_deleted
    assert result.branch_note == "branch 'users-own' kept: Agent Queue only deletes the agentq/* branches it made"
    assert "users-own" in branches(repo)
