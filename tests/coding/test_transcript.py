"""Transcripts: raw lines kept within a size, their end never lost, read back as events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.agents.coding import (
    AssistantText,
    Raw,
    Result,
    SessionStarted,
    ToolCall,
    TranscriptWriter,
    read_transcript,
)
from desktop.agents.coding.events import Omitted


def test_lines_are_stored_as_they_came_and_read_back_as_events(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path, "claude-stream")
    lines = [
        json.dumps({"type": "system", "subtype": "init", "session_id": "s-9", "model": "m"}),
        "not json at all",
        json.dumps({"type": "assistant", "message": {"id": "a", "content": [
            {"type": "text", "text": "Editing."},
            {"type": "tool_use", "id": "t", "name": "Write", "input": {"file_path": "x.py", "content": "print(1)"}},
        ]}}),
        json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok", "num_turns": 1}),
    ]
    for line in lines:
        writer.write(line)
    writer.close()
    assert path.read_text().splitlines()[1:] == lines
    events = list(read_transcript(path))
    assert events[0] == SessionStarted("s-9", "m")
    assert events[1] == Raw("not json at all")
    assert events[2] == AssistantText("Editing.", "a")
    assert events[3] == ToolCall("Write", {"file_path": "x.py", "content": "print(1)"}, "t", "a")
    assert isinstance(events[4], Result) and events[4].text == "ok"


def test_a_transcript_past_its_size_keeps_the_head_the_tail_and_says_what_it_left_out(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter(path, "text", head_bytes=1000, tail_bytes=500)
    lines = [f"line {i:04d} " + "x" * 39 for i in range(200)]  # 50 bytes each with the newline
    for line in lines:
        writer.write(line)
    writer.close()
    assert path.stat().st_size < 1000 + 500 + 200
    events = list(read_transcript(path))
    kept = [e.line for e in events if isinstance(e, Raw)]
    (omitted,) = [e for e in events if isinstance(e, Omitted)]
    assert kept[:20] == lines[:20] and kept[-10:] == lines[-10:]
    assert len(kept) + omitted.lines == 200 and omitted.bytes == omitted.lines * 50
    assert events[-1] == Raw(lines[-1])  # the end of the run is there


def test_writing_after_close_is_ignored(tmp_path: Path) -> None:
    writer = TranscriptWriter(tmp_path / "t.jsonl", "text")
    writer.close()
    writer.write("late")
    writer.close()
    assert list(read_transcript(tmp_path / "t.jsonl")) == []


def test_a_file_that_is_not_a_transcript_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"type": "assistant"}\n')
    with pytest.raises(ValueError, match="not an Agent Queue transcript"):
        list(read_transcript(other))
