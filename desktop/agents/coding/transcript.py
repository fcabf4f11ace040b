"""Each attempt's raw output lines kept in a bounded file, and read back as events.

The file is JSON Lines: a header naming the output format, then the program's lines exactly as
they came (broken ones too). Past HEAD_BYTES only the last TAIL_BYTES are kept, after a marker
saying how much was left out, so a runaway program cannot fill the disk and the end of the run
(its result) is never lost. Lines are written through as they come (line buffered), so a
TranscriptFollower can show a run live while it goes on.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from desktop import paths
from desktop.agents.coding.events import Event, Omitted
from desktop.agents.coding.parsers import parser_for

HEAD_BYTES = 16 * 1024 * 1024
TAIL_BYTES = 4 * 1024 * 1024
HEADER_TYPE = "agentq.transcript"
OMITTED_TYPE = "agentq.omitted"


def transcripts_dir() -> Path:
    """Where the coding kinds keep transcripts unless told otherwise: ``<data folder>/transcripts``."""
    return paths.data_dir() / "transcripts"


def transcript_files(task_id: int, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Every transcript of task `task_id` in `folder` (default: transcripts_dir()), oldest first."""
    found = Path(folder) if folder is not None else transcripts_dir()
    files = [p for p in found.glob(f"task-{task_id}-attempt-*.jsonl") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


class TranscriptWriter:
    """Appends lines to ``path`` up to HEAD_BYTES, then keeps the last TAIL_BYTES for `close()`."""

    def __init__(
        self, path: str | os.PathLike[str], format: str, *, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._head_bytes = head_bytes
        self._tail_bytes = tail_bytes
        self._file = self.path.open("w", encoding="utf-8", errors="replace", buffering=1)
        self._written = 0
        self._tail: deque[str] = deque()
        self._tail_size = 0
        self._omitted_lines = 0
        self._omitted_bytes = 0
        self._lock = threading.Lock()
        self._file.write(json.dumps({"type": HEADER_TYPE, "format": format, "version": 1}) + "\n")

    def write(self, line: str) -> None:
        size = len(line.encode("utf-8", errors="replace")) + 1
        with self._lock:
            if self._file.closed:
                return
            if self._written + size <= self._head_bytes:
                self._file.write(line + "\n")
                self._written += size
                return
            self._tail.append(line)
            self._tail_size += size
            while self._tail_size > self._tail_bytes and self._tail:
                dropped = self._tail.popleft()
                dropped_size = len(dropped.encode("utf-8", errors="replace")) + 1
                self._tail_size -= dropped_size
                self._omitted_lines += 1
                self._omitted_bytes += dropped_size

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            if self._omitted_lines:
                marker = {"type": OMITTED_TYPE, "lines": self._omitted_lines, "bytes": self._omitted_bytes}
                self._file.write(json.dumps(marker) + "\n")
            for line in self._tail:
                self._file.write(line + "\n")
            self._file.close()


def read_transcript(path: str | os.PathLike[str]) -> Iterator[Event]:
    """The events of a stored transcript (assistant text, tool calls with their arguments, results,
    errors, raw lines), parsed by the same code that read them live."""
    yield from TranscriptFollower(path).read_new(final=True)


class TranscriptFollower:
    """Reads a transcript as it grows: each `read_new()` gives the events of the lines written since
    the last call (only whole lines, unless `final`), parsed with the format its header names."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self._parser: Any = None

    def read_new(self, *, final: bool = False, max_bytes: int = HEAD_BYTES + TAIL_BYTES) -> list[Event]:
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read(max_bytes)
        end = len(data) if final else data.rfind(b"\n") + 1
        self._offset += end
        events: list[Event] = []
        for raw_line in data[:end].decode("utf-8", errors="replace").splitlines():
            if self._parser is None:
                self._parser = self._header(raw_line)
                continue
            if raw_line.startswith('{"type": "' + OMITTED_TYPE):
                marker = json.loads(raw_line)
                events.append(Omitted(int(marker.get("lines", 0)), int(marker.get("bytes", 0))))
                continue
            events.extend(self._parser.feed(raw_line))
        return events

    def _header(self, line: str) -> Any:
        try:
            header = json.loads(line)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("type") != HEADER_TYPE:
            raise ValueError(f"{self.path} is not an Agent Queue transcript")
        return parser_for(str(header.get("format")))
