"""The Repositories tab: each repository with its worktrees (task, branch, changes, who holds it) and
how many tasks wait, and Prune… listing what goes and what stays (and why) before removing."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from review_helpers import add_origin, setup_coder, wait_status

from desktop.queue import TaskQueueService, TaskStatus
from desktop.workspaces.review import publish


def _cells(table, row: int) -> list[str]:
    return [table.item(row, c).text() for c in range(table.columnCount())]


def test_the_repositories_tab_shows_worktrees_holders_and_waiting_tasks_and_prunes_only_what_is_safe(
    make_window, queue: TaskQueueService, qtbot, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_origin(repo, tmp_path / "remote.git")
    gate = tmp_path / "go-on"
    gate.write_text("go")
    monkeypatch.setenv("FAKE_AGENT_GATE", str(gate))
    setup_coder(queue, repo)  # one task at a time
    window = make_window()
    dirty = queue.enqueue("coder", {"prompt": "Leave changes"}, repo="repo")
    wait_status(qtbot, queue, dirty.id, TaskStatus.COMPLETED)
    pushed = queue.enqueue("coder", {"prompt": "Commit and push [commit]"}, repo="repo")
    pushed = wait_status(qtbot, queue, pushed.id, TaskStatus.COMPLETED)
    assert publish(queue, pushed, open_pr=False).pushed
    gate.unlink()
    busy = queue.enqueue("coder", {"prompt": "Still working"}, repo="repo")
    wait_status(qtbot, queue, busy.id, TaskStatus.RUNNING)
    qtbot.waitUntil(lambda: queue.task_workspace(busy.id) is not None, timeout=20_000)  # recorded after the claim
    waiting = queue.enqueue("coder", {"prompt": "Waits for the repository"}, repo="repo")

    panel = window.repositories
    window.tabs.setCurrentWidget(panel)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.repos.rowCount() == 1 and panel.worktrees.rowCount() == 3)
    assert _cells(panel.repos, 0)[:7] == ["repo", "worktree", "1", "main", "3", "1", "1"]
    rows = {int(_cells(panel.worktrees, r)[0]): _cells(panel.worktrees, r) for r in range(3)}
    assert rows[dirty.id][1:4] == ["completed", "uncommitted", "-"]
    assert rows[dirty.id][5] == f"agentq/{dirty.id}-leave-changes"
    assert rows[pushed.id][2] == "clean"
    assert rows[busy.id][1] == "running" and rows[busy.id][3] == f"task {busy.id}"

    asked: list[str] = []
    window.task_actions.confirm = lambda _parent, _title, text, *_: asked.append(text) or True
    panel.prune_button.click()
    qtbot.waitUntil(lambda: "Removed" in panel.outcome.text(), timeout=20_000)
    [question] = asked
    remove, keep = question.split("Keep")
    assert f"task {pushed.id}:" in remove and f"task {dirty.id}" not in remove
    assert f"task {dirty.id}: " in keep and "uncommitted changes: agent-output.txt" in keep
    assert f"task {busy.id}: " in keep and "is running" in keep
    assert not Path(queue.task_workspace(pushed.id).path).exists()
    assert Path(queue.task_workspace(dirty.id).path).is_dir() and Path(queue.task_workspace(busy.id).path).is_dir()
    qtbot.waitUntil(lambda: panel.worktrees.rowCount() == 2)

    row = next(r for r in range(2) if panel.worktrees.item(r, 0).text() == str(dirty.id))
    point = panel.worktrees.visualItemRect(panel.worktrees.item(row, 2)).center()
    qtbot.mouseClick(panel.worktrees.viewport(), Qt.MouseButton.LeftButton, pos=point)  # as a person's double-click
    qtbot.mouseDClick(panel.worktrees.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: dirty.id in window.details_dialogs)  # a double-click opens its task
    gate.write_text("go")
    wait_status(qtbot, queue, waiting.id, TaskStatus.COMPLETED)
