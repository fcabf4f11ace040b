"""A coding task's details: its transcript (live while it runs), its diff per file coloured by
Pygments, and a summary; a real repository, the fake Claude Code as a real subprocess, the real window."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_helpers import git, setup_coder, wait_status

from desktop.queue import TaskQueueService, TaskStatus
from desktop.ui.details_dialog import TaskDetailsDialog
from desktop.ui.diff_view import diff_html
from desktop.workspaces.review import split_patch


def _open(qtbot, window, task) -> TaskDetailsDialog:
    dialog = window.open_details(task)
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def test_a_finished_coding_task_shows_its_summary_diff_and_transcript(
    make_window, queue: TaskQueueService, qtbot, repo: Path
) -> None:
    setup_coder(queue, repo)
    window = make_window()
    task = queue.enqueue("coder", {"prompt": "Greet the world [commit]"}, repo="repo")
    done = wait_status(qtbot, queue, task.id, TaskStatus.COMPLETED, TaskStatus.FAILED)
    assert done.status is TaskStatus.COMPLETED, done.last_error
    details = _open(qtbot, window, done).details
    qtbot.waitUntil(lambda: details.tabs.isTabVisible(details.summary_tab) and details.review.review is not None)
    assert details.tabs.currentIndex() == details.summary_tab  # a finished coding task opens on its summary

    summary = details.review.summary.toPlainText()
    branch = f"agentq/{task.id}-greet-the-world-commit"
    head = git(repo, "rev-parse", branch)
    for expected in (f"Branch\n{branch}", f"Head commit\n{head[:12]}", "Commits\n1", "Cost\n$0.0123",
                     "Tokens\n6,500 in (5,000 cached), 450 out", "Session\n", "Final message",
                     "Done: I updated agent-output.txt."):
        assert expected in summary, (expected, summary)

    diff = details.review.diff
    qtbot.waitUntil(lambda: diff.table.rowCount() == 1 and "done: Greet the world" in diff.text.toPlainText())
    assert [diff.table.item(0, c).text() for c in range(3)] == ["agent-output.txt", "+1", "−0"]
    assert "+done: Greet the world" in diff.text.toPlainText()
    assert "color" in diff.text.toHtml()  # coloured, inline

    transcript = details.review.transcript
    qtbot.waitUntil(lambda: "Done: I updated agent-output.txt." in transcript.text.toPlainText())
    text = transcript.text.toPlainText()
    assert "I'll make the change now." in text
    assert "→ Edit agent-output.txt" in text and "old_string:" in text  # the call, with its arguments
    assert "← result" in text and "has been updated" in text  # and what the tool gave back
    assert "git add -A && git commit" in text
    assert transcript.state.text() == "1 run"


def test_the_transcript_follows_a_running_agent_and_stays_when_it_ends(
    make_window, queue: TaskQueueService, qtbot, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = repo.parent / "go-on"
    monkeypatch.setenv("FAKE_AGENT_DELAY_S", "0.2")
    monkeypatch.setenv("FAKE_AGENT_GATE", str(gate))  # the agent waits for this file after its first message
    setup_coder(queue, repo)
    window = make_window()
    task = queue.enqueue("coder", {"prompt": "Slow change"}, repo="repo")
    running = wait_status(qtbot, queue, task.id, TaskStatus.RUNNING)
    details = _open(qtbot, window, running).details
    transcript = details.review.transcript
    qtbot.waitUntil(lambda: "I'll make the change now." in transcript.text.toPlainText(), timeout=20_000)
    assert queue.get(task.id).status is TaskStatus.RUNNING  # shown while it runs
    assert transcript.state.text().startswith("Live") and details.tabs.currentIndex() == details.transcript_tab
    assert "Done:" not in transcript.text.toPlainText()

    gate.write_text("go")
    wait_status(qtbot, queue, task.id, TaskStatus.COMPLETED)
    qtbot.waitUntil(lambda: "Done: I updated agent-output.txt." in transcript.text.toPlainText(), timeout=20_000)
    qtbot.waitUntil(lambda: not transcript.live)
    assert transcript.text.toPlainText().count("I'll make the change now.") == 1  # appended, never repeated
    qtbot.waitUntil(lambda: details.review.diff.table.rowCount() == 1)


def test_a_patch_splits_per_file_with_its_counts_and_colours() -> None:
    patch = (
        "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n-old\n+new\n+more\n same\n"
        "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    files = split_patch(patch)
    assert [(f.path, f.added, f.removed) for f in files] == [("a.txt", 2, 1), ("gone.txt", 0, 1)]
    assert files[0].text.startswith("diff --git a/a.txt") and files[1].text.endswith("-x\n")
    light, dark = diff_html(files[0].text, dark=False), diff_html(files[0].text, dark=True)
    assert "+new" in light and light != dark and "color" in light
