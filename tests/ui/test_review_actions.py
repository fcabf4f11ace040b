"""What one can do from a coding task's details: discard its worktree (refused while work would be
lost), push and open a pull request (a local bare remote, the fake gh), a follow-up in the same
worktree and session, a retry with an edited prompt, and opening the worktree in the file manager,
an editor and a terminal. Real repositories, the fake Claude Code, the real window."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from review_helpers import FAKES, add_origin, git, install_program, setup_coder, wait_status

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.details_dialog import TaskDetailsDialog
from desktop.ui.main_window import MainWindow

FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED)


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "agent-runs.jsonl"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    return log


def _run(qtbot, window: MainWindow, queue: TaskQueueService, prompt: str) -> TaskDetailsDialog:
    """Queue `prompt` for the coder, wait for its end, open its details with the review read."""
    task = queue.enqueue("coder", {"prompt": prompt}, repo="repo")
    done = wait_status(qtbot, queue, task.id, *FINISHED)
    dialog = window.open_details(done)
    qtbot.waitUntil(lambda: dialog.review_bar.isVisible() and dialog.review_bar.review is not None)
    return dialog


def _outcome(qtbot, dialog: TaskDetailsDialog, start: str) -> str:
    label = dialog.review_bar.outcome
    qtbot.waitUntil(lambda: label.text().startswith(start), timeout=20_000)
    return label.text()


def test_discard_refuses_uncommitted_changes_and_unpushed_commits_then_removes_a_pushed_worktree(
    make_window, queue: TaskQueueService, qtbot, repo: Path, tmp_path: Path
) -> None:
    bare = add_origin(repo, tmp_path / "remote.git")
    git(repo, "push", "-q", "-u", "origin", "main")
    setup_coder(queue, repo)
    window = make_window()
    asked: list[str] = []
    window.task_actions.confirm = lambda _parent, _title, text, *_: asked.append(text) or True

    dirty = _run(qtbot, window, queue, "Leave it uncommitted")
    worktree = Path(dirty.review_bar.review.record.path)
    assert dirty.review_bar.discard_button.isEnabled()
    dirty.review_bar.discard_button.click()
    assert "is kept" in asked[-1] and str(worktree) in asked[-1]  # the question says what goes and what stays
    text = _outcome(qtbot, dirty, "Kept")
    assert "uncommitted changes: agent-output.txt" in text and worktree.is_dir()
    assert queue.task_workspace(dirty.task.id).removed_at is None

    committed = _run(qtbot, window, queue, "Commit it [commit]")
    bar = committed.review_bar
    folder = Path(bar.review.record.path)
    bar.discard_button.click()
    assert "reachable from no other branch or remote" in _outcome(qtbot, committed, "Kept") and folder.is_dir()

    assert bar.push_button.isEnabled() and not bar.pr_button.isEnabled()  # no gh on PATH
    bar.push_button.click()
    assert _outcome(qtbot, committed, "Pushed").startswith(f"Pushed {bar.review.record.branch}")
    assert git(bare, "rev-parse", bar.review.record.branch) == git(repo, "rev-parse", bar.review.record.branch)
    qtbot.waitUntil(lambda: bar.review.facts.get("pushed") is True)
    bar.discard_button.click()
    _outcome(qtbot, committed, "Removed")
    assert not folder.exists() and queue.task_workspace(committed.task.id).removed_at is not None
    assert git(repo, "rev-parse", "--verify", bar.review.record.branch)  # the branch is kept
    qtbot.waitUntil(lambda: not bar.discard_button.isEnabled() and not bar.folder_button.isEnabled())


def test_open_pr_pushes_and_runs_gh_pr_create(
    make_window, queue: TaskQueueService, qtbot, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_origin(repo, tmp_path / "remote.git")
    install_program(tmp_path / "bin", "gh", FAKES / "fake_gh.py")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_GH_LOG", str(tmp_path / "gh.jsonl"))
    setup_coder(queue, repo)
    window = make_window()
    dialog = _run(qtbot, window, queue, "Add the feature [commit]")
    bar = dialog.review_bar
    assert bar.pr_button.isEnabled()
    bar.pr_button.click()
    assert "Pull request: https://github.com/example/repo/pull/17" in _outcome(qtbot, dialog, "Pushed")
    [call] = [json.loads(line) for line in (tmp_path / "gh.jsonl").read_text().splitlines()]
    assert call["args"][:2] == ["pr", "create"] and call["args"][call["args"].index("--title") + 1] == "Add the feature [commit]"
    qtbot.waitUntil(lambda: "https://github.com/example/repo/pull/17" in dialog.details.review.summary.toPlainText())
    assert queue.task_workspace(dialog.task.id).summary["pr_url"] == "https://github.com/example/repo/pull/17"
    qtbot.waitUntil(lambda: not bar.pr_button.isEnabled())  # one pull request per branch


def test_a_follow_up_resumes_the_session_in_the_same_worktree(
    make_window, queue: TaskQueueService, qtbot, repo: Path, agent_log: Path
) -> None:
    setup_coder(queue, repo)
    window = make_window()
    dialog = _run(qtbot, window, queue, "First part [commit]")
    parent = dialog.task
    session = dialog.review_bar.review.facts["session_id"]
    prompt = dialog.review_bar.follow_up()
    prompt.prompt.setPlainText("   ")
    prompt.ok_button.click()
    assert prompt.errors.message("prompt").lower().startswith("must not be empty")  # refused, nothing queued
    assert queue.count_tasks() == 1
    prompt.prompt.setPlainText("Now the second part [commit]")
    with qtbot.waitSignal(prompt.done, timeout=10_000) as queued:
        prompt.ok_button.click()
    follow = queued.args[0]
    assert follow.follow_up_of == parent.id and follow.repo == "repo"
    assert wait_status(qtbot, queue, follow.id, *FINISHED).status is TaskStatus.COMPLETED
    assert queue.task_workspace(follow.id).path == queue.task_workspace(parent.id).path
    last = [json.loads(line) for line in agent_log.read_text().splitlines()][-1]
    assert last["argv"][last["argv"].index("--resume") + 1] == session


def test_retry_with_an_edited_prompt_runs_the_new_prompt(
    make_window, queue: TaskQueueService, qtbot, repo: Path, agent_log: Path
) -> None:
    setup_coder(queue, repo)
    window = make_window()
    dialog = _run(qtbot, window, queue, "Too long a job [fake:max-turns]")
    assert dialog.task.status is TaskStatus.FAILED and dialog.review_bar.retry_button.isEnabled()
    prompt = dialog.review_bar.retry_with_prompt()
    assert prompt.prompt.toPlainText() == "Too long a job [fake:max-turns]"
    prompt.prompt.setPlainText("A smaller job")
    with qtbot.waitSignal(prompt.done, timeout=10_000):
        prompt.ok_button.click()
    done = wait_status(qtbot, queue, dialog.task.id, TaskStatus.COMPLETED)
    assert done.payload["prompt"] == "A smaller job"
    last = [json.loads(line) for line in agent_log.read_text().splitlines()][-1]
    assert last["argv"][-1] == "A smaller job" and "--resume" in last["argv"]


class _FileUrls(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toLocalFile())


def test_the_worktree_opens_in_the_file_manager_the_editor_and_a_terminal(
    make_window, queue: TaskQueueService, qtbot, repo: Path, tmp_path: Path
) -> None:
    recorder = tmp_path / "record.py"
    recorder.write_text("import json, os, sys\n"
                        "open(sys.argv[1], 'w').write(json.dumps({'args': sys.argv[2:], 'cwd': os.getcwd()}))\n")
    setup_coder(queue, repo)
    window = make_window()
    window.settings = dataclasses.replace(
        window.settings, editor_command=f"{sys.executable} {recorder} {tmp_path / 'editor.json'} --folder {{path}}",
        terminal_command=f"{sys.executable} {recorder} {tmp_path / 'terminal.json'}",
    )
    dialog = _run(qtbot, window, queue, "Something to look at")
    bar = dialog.review_bar
    folder = bar.review.record.path

    urls = _FileUrls()
    QDesktopServices.setUrlHandler("file", urls, "open")
    try:
        assert bar.open_folder()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert urls.opened == [folder]

    assert bar.open_editor() and bar.open_terminal()
    qtbot.waitUntil(lambda: (tmp_path / "editor.json").exists() and (tmp_path / "terminal.json").exists())
    editor = json.loads((tmp_path / "editor.json").read_text())
    terminal = json.loads((tmp_path / "terminal.json").read_text())
    assert editor["args"] == ["--folder", folder]  # {path} where the command puts it
    assert terminal["args"] == [folder] and terminal["cwd"] == folder  # appended, and started there

    window.settings = dataclasses.replace(window.settings, editor_command="'unclosed")
    assert not bar.open_editor()
    assert "editor_command" in bar.outcome.text() and "cannot be read as a command" in bar.outcome.text()
