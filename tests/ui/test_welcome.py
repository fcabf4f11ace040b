"""First run: the welcome panel says where data lives and its examples run for real."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.queue import TaskQueueService, TaskStatus
from tests.ui.conftest import WindowFactory


def test_an_empty_queue_shows_the_welcome_panel_and_its_examples_run(
    qtbot: QtBot, make_window: WindowFactory, queue: TaskQueueService, db_path: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    window = make_window()
    qtbot.waitUntil(window.welcome.isVisible, timeout=5_000)
    text = " ".join(label.text() for label in window.welcome.findChildren(type(window.counts_label)))
    assert str(db_path) in text and "settings.json" in text
    window.welcome.folder.setText(str(repo))
    window.welcome.add_button.click()
    qtbot.waitUntil(lambda: not window.welcome.isVisible(), timeout=5_000)
    assert {a.name for a in queue.list_agents()} == {"echo", "sleep", "flaky", "git-status"}
    qtbot.waitUntil(lambda: window.agents.model.rowCount() == 4, timeout=5_000)
    git = queue.list_tasks(agent="git-status")[0]
    qtbot.waitUntil(lambda: queue.get(git.id).status is TaskStatus.COMPLETED, timeout=10_000)
    # These settings cap the backoff at 0 s, so the flaky example goes through its retries at once.
    flaky = queue.list_tasks(agent="flaky")[0]
    qtbot.waitUntil(lambda: queue.get(flaky.id).status is TaskStatus.FAILED, timeout=10_000)
    assert [a.outcome for a in queue.attempts(flaky.id)] == ["failed"] * 3
    qtbot.waitUntil(lambda: window.failed.model.rowCount() >= 1, timeout=10_000)


def test_the_git_example_needs_a_git_repository_and_nothing_is_created_without_one(
    qtbot: QtBot, make_window: WindowFactory, queue: TaskQueueService, tmp_path: Path
) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    window = make_window()
    qtbot.waitUntil(window.welcome.isVisible, timeout=5_000)
    window.welcome.folder.setText(str(plain))
    window.welcome.add_button.click()
    qtbot.waitUntil(lambda: window.welcome.error.isVisible(), timeout=5_000)
    expected = f"git status in: {plain} is not in a git repository: choose a folder of a repository"
    assert window.welcome.error.text() == expected
    assert queue.list_agents() == [] and queue.count_tasks() == 0  # refused before anything was written
    assert window.welcome.isVisible() and window.welcome.add_button.isEnabled()

    window.welcome.folder.clear()  # no folder: the examples without the git one
    window.welcome.add_button.click()
    qtbot.waitUntil(lambda: not window.welcome.isVisible(), timeout=5_000)
    assert queue.count_tasks() == 7 and queue.list_tasks(agent="git-status") == []
