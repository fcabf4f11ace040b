"""Reviewing without Qt: the user's editor and terminal commands, a patch split per file, a
transcript followed while it is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.agents.coding import AssistantText, ToolCall, TranscriptFollower, TranscriptWriter
from desktop.errors import TaskValidationError
from desktop.workspaces.review import command_argv, editor_argv, split_patch, terminal_argv


def test_a_command_gets_the_folder_where_it_says_or_at_its_end() -> None:
    assert command_argv("code {path}", "/w/a b", "editor_command") == ["code", "/w/a b"]
    assert command_argv("kitty --directory={path} --hold", "/w", "terminal_command") == [
        "kitty", "--directory=/w", "--hold"]
    assert command_argv("'/opt/My Editor/bin/edit' -n", "/w", "editor_command") == ["/opt/My Editor/bin/edit", "-n", "/w"]
    assert terminal_argv("wezterm start --cwd", "/w") == ["wezterm", "start", "--cwd", "/w"]
    with pytest.raises(TaskValidationError, match="cannot be read as a command") as error:
        command_argv("code '{path}", "/w", "editor_command")
    assert error.value.field == "editor_command"


def test_no_editor_command_and_no_visual_says_where_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    with pytest.raises(TaskValidationError) as error:
        editor_argv("", "/w")
    assert str(error.value) == "editor_command: must name a program to run (set it in Settings)"
    monkeypatch.setenv("VISUAL", "gvim -f")
    assert editor_argv("", "/w") == ["gvim", "-f", "/w"]


def test_a_patch_with_a_rename_a_new_file_and_a_binary_splits_per_file() -> None:
    patch = (
        "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\n"
        "--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"
        "diff --git a/added.txt b/added.txt\nnew file mode 100644\n--- /dev/null\n+++ b/added.txt\n@@ -0,0 +1,2 @@\n"
        "+one\n+--- not a header\n"
        "diff --git a/logo.png b/logo.png\nBinary files a/logo.png and b/logo.png differ\n"
    )
    files = split_patch(patch)
    assert [(f.path, f.added, f.removed) for f in files] == [("new.py", 1, 1), ("added.txt", 2, 0), ("logo.png", 0, 0)]
    assert "".join(f.text for f in files) == patch
    assert split_patch("") == []


def test_a_transcript_is_read_as_it_is_written_whole_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "task-1-attempt-1.jsonl"
    writer = TranscriptWriter(path, "claude-stream")
    follower = TranscriptFollower(path)
    assert follower.read_new() == []
    text = {"type": "assistant", "message": {"id": "m1", "content": [{"type": "text", "text": "Looking."}]}}
    writer.write(json.dumps(text))  # line buffered: on disk at once, while the writer is open
    assert follower.read_new() == [AssistantText("Looking.", "m1")]
    call = {"type": "assistant", "message": {"id": "m2", "content": [
        {"type": "tool_use", "id": "t1", "name": "Edit", "input": {"file_path": "a.py"}}]}}
    line = json.dumps(call)
    with path.open("a", encoding="utf-8") as handle:  # half a line, as a reader may catch it
        handle.write(line[:20])
    assert follower.read_new() == []
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line[20:] + "\n")
    assert follower.read_new() == [ToolCall("Edit", {"file_path": "a.py"}, "t1", "m2")]
    writer.close()
    assert follower.read_new() == []  # nothing read twice
