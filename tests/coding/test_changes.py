"""What a run changed: commits, numstat, uncommitted work, the bounded patch, commit, push and PR."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from gitrepos import FAKES, commit_file, git, install_program, prepend_path

from desktop.workspaces import (
    ChangeSummary,
    FileChange,
    Workspace,
    commit_message,
    copy_untracked,
    create_worktree,
    finish_workspace,
    open_pull_request,
    push_branch,
    summarize_changes,
)


@pytest.fixture
def ws(repo: Path, worktrees_dir: Path) -> Workspace:
    return create_worktree(repo, 9, "Improve the app", worktrees_dir, "main")


def test_a_run_that_changed_nothing(ws: Workspace) -> None:
    summary = summarize_changes(ws)
    assert summary == ChangeSummary(
        base_commit=ws.base_commit,
        head_commit=ws.base_commit,
        branch=ws.branch,
        commits=0,
        files=(),
        uncommitted=False,
        patch="",
        patch_truncated=False,
        patch_bytes=0,
    )


def test_commits_and_lines_are_counted(ws: Workspace) -> None:
    path = Path(ws.path)
    commit_file(path, "src/app.py", "def main():\n    return 2\n\n\ndef helper():\n    return 3\n")
    commit_file(path, "docs/guide.md", "one\ntwo\nthree\n")
    summary = summarize_changes(ws)
    assert summary.commits == 2
    assert summary.head_commit == git(ws.path, "rev-parse", "HEAD")
    assert set(summary.files) == {FileChange("src/app.py", 5, 1), FileChange("docs/guide.md", 3, 0)}
    assert (summary.lines_added, summary.lines_removed) == (8, 1)
    assert not summary.uncommitted
    assert "+def helper():" in summary.patch and "-    return 1" in summary.patch


def test_uncommitted_and_untracked_work_is_counted_and_the_index_left_alone(ws: Workspace) -> None:
    path = Path(ws.path)
    (path / "src" / "app.py").write_text("def main():\n    return 42\n")
    git(ws.path, "add", "src/app.py")  # the agent staged this one itself
    (path / "README.md").write_text("# demo\nmore\n")
    (path / "src" / "new.py").write_text("x = 1\ny = 2\n")
    (path / "build").mkdir()
    (path / "build" / "out.bin").write_text("ignored build output")
    summary = summarize_changes(ws)
    assert summary.commits == 0 and summary.uncommitted
    assert set(summary.files) == {
        FileChange("src/app.py", 1, 1),
        FileChange("README.md", 1, 0),
        FileChange("src/new.py", 2, 0),
    }
    assert "+y = 2" in summary.patch
    assert git(ws.path, "diff", "--cached", "--name-only") == "src/app.py"  # staging as the agent left it
    assert "?? src/new.py" in git(ws.path, "status", "--porcelain")


def test_binary_files_and_renames(ws: Workspace) -> None:
    path = Path(ws.path)
    (path / "logo.png").write_bytes(bytes(range(256)) * 4)
    git(ws.path, "mv", "src/app.py", "src/main_app.py")
    git(ws.path, "add", "-A")
    git(ws.path, "commit", "-q", "-m", "binary and rename")
    files = {f.path: f for f in summarize_changes(ws).files}
    assert files["logo.png"] == FileChange("logo.png", None, None)
    assert files["src/main_app.py"] == FileChange("src/main_app.py", 0, 0, old_path="src/app.py")


def test_leftovers_are_committed_with_the_prompt_when_asked_but_never_the_copied_files(
    repo: Path, ws: Workspace
) -> None:
    (repo / "local.env").write_text("TOKEN=secret\n")  # not ignored in this repository
    copied = copy_untracked(repo, ws.path, ["local.env"])
    ws = dataclasses.replace(ws, copied=tuple(copied))
    (Path(ws.path) / "src" / "app.py").write_text("def main():\n    return 5\n")
    (Path(ws.path) / "notes.txt").write_text("new\n")
    prompt = "Make main return 5\n\nIt should return five, not one."
    summary = summarize_changes(ws, commit_message=commit_message(prompt))
    assert summary.committed and not summary.uncommitted and summary.commits == 1
    assert git(ws.path, "log", "-1", "--format=%B") == "Make main return 5\n\n" + prompt
    assert set(git(ws.path, "show", "--name-only", "--format=", "HEAD").splitlines()) == {"src/app.py", "notes.txt"}
    assert {f.path for f in summary.files} == {"src/app.py", "notes.txt"}
    assert "secret" not in summary.patch
    assert git(ws.path, "status", "--porcelain") == "?? local.env"  # still there, never committed


def test_a_copied_file_git_ignores_is_neither_work_nor_an_error(repo: Path, ws: Workspace) -> None:
    (repo / ".env").write_text("TOKEN=secret\n")  # ignored by the repository's .gitignore
    ws = dataclasses.replace(ws, copied=tuple(copy_untracked(repo, ws.path, [".env"])))
    (Path(ws.path) / "notes.txt").write_text("new\n")
    summary = summarize_changes(ws, commit_message="Add notes")
    assert summary.committed and summary.commits == 1 and [f.path for f in summary.files] == ["notes.txt"]
    assert "secret" not in summary.patch and (Path(ws.path) / ".env").exists()


def test_a_copied_file_the_agent_changed_counts_as_its_work(repo: Path, ws: Workspace) -> None:
    (repo / "local.env").write_text("A=1\n")
    ws = dataclasses.replace(ws, copied=tuple(copy_untracked(repo, ws.path, ["local.env"])))
    assert not summarize_changes(ws).uncommitted
    (Path(ws.path) / "local.env").write_text("A=2\n")
    summary = summarize_changes(ws)
    assert summary.uncommitted and [f.path for f in summary.files] == ["local.env"]


def test_a_commit_that_fails_leaves_the_changes_and_says_why(ws: Workspace) -> None:
    hook = Path(git(ws.path, "rev-parse", "--git-common-dir"))
    hooks = (Path(ws.path) / hook if not hook.is_absolute() else hook) / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\necho 'lint failed: trailing spaces' >&2\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    (Path(ws.path) / "src" / "app.py").write_text("def main():   \n    return 1\n")
    (Path(ws.path) / "extra.py").write_text("z = 0\n")
    summary = summarize_changes(ws, commit_message="Lint me")
    assert not summary.committed and summary.uncommitted and summary.commits == 0
    assert any("could not commit" in note and "lint failed" in note for note in summary.notes)
    assert git(ws.path, "diff", "--cached", "--name-only") == ""  # the index as it was
    status = {line.strip() for line in git(ws.path, "status", "--porcelain").splitlines()}
    assert status == {"M src/app.py", "?? extra.py"}


def test_the_patch_is_bounded_and_cut_at_a_line_end(ws: Workspace) -> None:
    big = "".join(f"line {i:05d} of a long generated file\n" for i in range(2000))
    commit_file(Path(ws.path), "generated.txt", big)
    whole = summarize_changes(ws)
    assert not whole.patch_truncated and whole.patch_bytes == len(whole.patch.encode())
    cut = summarize_changes(ws, patch_limit=10_000)
    assert cut.patch_truncated and cut.patch_bytes == whole.patch_bytes
    assert len(cut.patch.encode()) <= 10_000 and cut.patch.endswith("\n")
    assert whole.patch.startswith(cut.patch)
    assert any(f"the patch is {whole.patch_bytes} bytes" in note for note in cut.notes)
    assert cut.files == whole.files  # the figures are complete even when the patch is not


def test_the_default_patch_limit_is_five_mebibytes(ws: Workspace) -> None:
    line = "x" * 1023 + "\n"
    (Path(ws.path) / "huge.txt").write_text(line * 6 * 1024)  # 6 MiB, uncommitted
    summary = summarize_changes(ws)
    assert summary.patch_truncated and summary.patch_bytes > 6 * 1024 * 1024
    assert 5 * 1024 * 1024 - 1100 < len(summary.patch.encode()) <= 5 * 1024 * 1024


def test_summaries_are_json(ws: Workspace) -> None:
    commit_file(Path(ws.path), "a.txt", "a\n")
    data = json.loads(json.dumps(summarize_changes(ws).to_json()))
    assert data["files"] == [{"path": "a.txt", "added": 1, "removed": 0, "old_path": None}]
    assert data["commits"] == 1 and data["notes"] == [] and data["pr_url"] is None


def test_commit_messages_keep_a_short_subject_and_the_whole_prompt() -> None:
    assert commit_message("Fix it") == "Fix it"
    long = "Refactor " + "the parser " * 10
    message = commit_message(long)
    subject, _, body = message.partition("\n\n")
    assert len(subject) <= 72 and subject.endswith("…") and body == long.strip()


def test_the_branch_is_pushed_to_the_bare_remote(remote: Path, ws: Workspace) -> None:
    head = commit_file(Path(ws.path), "feature.txt", "f\n")
    summary = finish_workspace(ws, push=True)
    assert summary.pushed and summary.notes == ()
    assert git(remote, "rev-parse", f"refs/heads/{ws.branch}") == head


def test_a_failed_push_is_a_note_and_nothing_raises(tmp_path: Path, remote: Path, ws: Workspace) -> None:
    commit_file(Path(ws.path), "feature.txt", "f\n")
    remote.rename(tmp_path / "gone.git")
    summary = finish_workspace(ws, push=True, open_pr=True)
    assert not summary.pushed and summary.pr_url is None and summary.commits == 1
    assert any(note.startswith("not pushed to origin") for note in summary.notes)


def test_nothing_to_push_and_no_remote_are_notes(repo: Path, ws: Workspace) -> None:
    assert finish_workspace(ws, push=True).notes == ("not pushed: the branch has no new commits",)
    commit_file(Path(ws.path), "feature.txt", "f\n")
    assert push_branch(ws) == f"not pushed: {repo.resolve()} has no remote"


def test_a_pull_request_is_opened_with_gh_when_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remote: Path, ws: Workspace
) -> None:
    prepend_path(monkeypatch, install_program(tmp_path / "bin", "gh", FAKES / "fake_gh.py").parent)
    log = tmp_path / "gh.jsonl"
    monkeypatch.setenv("FAKE_GH_LOG", str(log))
    commit_file(Path(ws.path), "feature.txt", "f\n")
    summary = finish_workspace(ws, push=True, open_pr=True, pr_title="Add the feature", pr_body="Done by an agent")
    assert summary.pushed and summary.pr_url == "https://github.com/example/repo/pull/17" and summary.notes == ()
    call = json.loads(log.read_text())
    assert call["args"] == [
        "pr", "create", "--head", ws.branch, "--base", "main",
        "--title", "Add the feature", "--body", "Done by an agent",
    ]
    assert Path(call["cwd"]).resolve() == Path(ws.path)


def test_a_failing_or_missing_gh_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Workspace) -> None:
    url, note = open_pull_request(ws, title="t", body="b", base_branch="main", gh="agentq-no-such-gh")
    assert url is None and note == "no pull request: the GitHub CLI ('agentq-no-such-gh') is not installed"
    gh = install_program(tmp_path / "bin", "gh", FAKES / "fake_gh.py")
    monkeypatch.setenv("FAKE_GH_FAIL", "1")
    url, note = open_pull_request(ws, title="t", body="b", base_branch="main", gh=str(gh))
    assert url is None and note is not None and "Head sha can't be blank" in note
