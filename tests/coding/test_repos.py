"""Repositories: checking a local clone, cloning a URL once, fetching before each task (or not, offline)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from gitrepos import commit_file, git

from desktop.errors import TaskValidationError
from desktop.workspaces import GitError, check_repository, default_branch, ensure_clone, is_url
from desktop.workspaces.repos import clone_folder


def test_a_clone_is_accepted_and_its_top_folder_returned(repo: Path) -> None:
    assert check_repository(repo) == repo.resolve()
    assert check_repository(str(repo) + "/") == repo.resolve()


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: _file(tmp / "a-file"), "is not a folder"),
        (lambda tmp: _folder(tmp / "plain"), "is not a git repository"),
        (lambda tmp: _bare(tmp / "bare.git"), "is a bare repository"),
    ],
)
def test_what_is_not_a_clone_gets_an_error_naming_the_field(
    tmp_path: Path, make: Callable[[Path], Path], rule: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(TaskValidationError) as info:
        check_repository(path, "repo")
    assert info.value.field == "repo"
    assert rule in info.value.rule
    assert str(path) in info.value.rule


def test_a_folder_inside_a_clone_is_refused_naming_the_clone(repo: Path) -> None:
    with pytest.raises(TaskValidationError, match="is inside the git repository") as info:
        check_repository(repo / "src")
    assert str(repo.resolve()) in info.value.rule


def _file(path: Path) -> Path:
    path.write_text("x")
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _bare(path: Path) -> Path:
    git(path.parent, "init", "-q", "--bare", str(path))
    return path


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://github.com/me/app.git", True),
        ("ssh://git@host/me/app", True),
        ("file:///srv/git/app.git", True),
        ("git@github.com:me/app.git", True),
        ("/home/me/app", False),
        ("relative/app", False),
        ("C:\\work\\app", False),
    ],
)
def test_urls_are_told_from_paths(location: str, expected: bool) -> None:
    assert is_url(location) is expected


def test_a_url_is_cloned_once_then_fetched(tmp_path: Path, repo: Path, remote: Path) -> None:
    url = remote.as_uri()
    clones = tmp_path / "clones"
    first = ensure_clone(url, clones)
    assert first.cloned and first.fetched and first.note is None
    assert Path(first.path) == clone_folder(url, clones)
    assert git(first.path, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")

    new_commit = commit_file(repo, "NEWS.md", "news\n")
    git(repo, "push", "-q", "origin", "main")
    second = ensure_clone(url, clones)
    assert second.path == first.path and not second.cloned and second.fetched
    assert git(second.path, "rev-parse", "origin/main") == new_commit
    assert default_branch(second.path) == "main"


def test_an_offline_fetch_goes_on_with_what_is_there_and_says_so(tmp_path: Path, repo: Path, remote: Path) -> None:
    clones = tmp_path / "clones"
    first = ensure_clone(remote.as_uri(), clones)
    head = git(first.path, "rev-parse", "origin/main")
    remote.rename(tmp_path / "remote-away.git")  # the server is gone
    again = ensure_clone(remote.as_uri(), clones)
    assert again.path == first.path and not again.fetched
    assert again.note is not None and "could not fetch origin" in again.note
    assert git(again.path, "rev-parse", "origin/main") == head


def test_an_unreachable_url_raises_and_leaves_no_folder(tmp_path: Path) -> None:
    clones = tmp_path / "clones"
    with pytest.raises(GitError) as info:
        ensure_clone((tmp_path / "nowhere.git").as_uri(), clones)
    assert "clone" in str(info.value)
    assert [p.name for p in clones.iterdir() if not p.name.endswith(".lock")] == []


def test_two_threads_asking_at_once_clone_it_once(tmp_path: Path, repo: Path, remote: Path) -> None:
    clones = tmp_path / "clones"
    start = threading.Barrier(2)
    results = []

    def ask() -> None:
        start.wait()
        results.append(ensure_clone(remote.as_uri(), clones))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.cloned for r in results) == [False, True]
    assert len({r.path for r in results}) == 1


def test_clone_folders_differ_for_different_urls(tmp_path: Path) -> None:
    a = clone_folder("https://example.com/a/app.git", tmp_path)
    b = clone_folder("https://example.com/b/app.git", tmp_path)
    assert a != b and a.name.startswith("app-") and b.name.startswith("app-")
