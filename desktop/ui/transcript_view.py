"""TranscriptView: what a coding agent said and did, attempt by attempt: its text, each tool call with
its arguments, each tool's result. A running attempt's transcript is followed as the file grows.

The files are read and turned into HTML on a read thread (a transcript can be megabytes); the GUI
thread only appends what is new.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from desktop.agents.coding import (
    AssistantText,
    Event,
    Other,
    SessionStarted,
    ToolCall,
    ToolResult,
    TranscriptFollower,
    describe_tool,
    render,
)
from desktop.ui.jobs import Jobs
from desktop.ui.status_style import hint_colour, status_colour

LIVE_POLL_MS = 500
RESULT_LINES = 30  # of a tool's result; the file keeps it all
VALUE_CHARS = 2000  # of one tool argument


@dataclass(frozen=True, slots=True)
class Colours:
    """What the HTML uses, taken from the palette (light or dark)."""

    muted: str
    error: str
    tool: str


@dataclass
class _Reading:
    """The files of one task being read, and how far; touched only by one read job at a time."""

    task_id: int
    followers: dict[Path, TranscriptFollower] = field(default_factory=dict)
    workdir: str | None = None

    def read(self, files: list[Path], colours: Colours) -> str:
        parts = []
        for number, path in enumerate(files, 1):
            follower = self.followers.get(path)
            if follower is None:
                follower = self.followers[path] = TranscriptFollower(path)
                label = "Run 1" if number == 1 else f"Run {number} (a retry, a resumed session, or after a usage limit)"
                parts.append(f'<h3 style="color:{colours.muted}">{html.escape(label)}</h3>')
            for event in follower.read_new():
                if isinstance(event, SessionStarted) and event.cwd:
                    self.workdir = event.cwd
                parts.append(event_html(event, colours, self.workdir))
        return "".join(p for p in parts if p)


def _pre(text: str, colour: str | None = None) -> str:
    style = f' style="color:{colour}"' if colour else ""
    return f"<pre{style}>{html.escape(text)}</pre>"


def _argument(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + f"… ({len(text) - VALUE_CHARS} more characters)"


def event_html(event: Event, colours: Colours, workdir: str | None = None) -> str:
    """One event as HTML: the agent's text as paragraphs, a tool call with its arguments, a result
    (its first lines), and the rest as the one-line form the output tail uses."""
    if isinstance(event, AssistantText):
        return "<p>" + html.escape(event.text.strip()).replace("\n", "<br>") + "</p>"
    if isinstance(event, ToolCall):
        head = html.escape("→ " + describe_tool(event.name, event.input, workdir))
        args = "\n".join(f"{key}: {_argument(value)}" for key, value in event.input.items())
        return f'<p style="color:{colours.tool}"><b>{head}</b></p>' + (_pre(args, colours.muted) if args else "")
    if isinstance(event, ToolResult):
        lines = (event.output or "(no output)").splitlines() or ["(no output)"]
        shown = "\n".join(lines[:RESULT_LINES])
        if len(lines) > RESULT_LINES:
            shown += f"\n… {len(lines) - RESULT_LINES} more lines"
        title = "← failed" if event.is_error else "← result"
        colour = colours.error if event.is_error else colours.muted
        return f'<p style="color:{colour}">{title}</p>' + _pre(shown, colour)
    if isinstance(event, Other):
        return ""
    lines = render(event, workdir)
    return "".join(f'<p style="color:{colours.muted}"><i>{html.escape(line)}</i></p>' for line in lines)


class TranscriptView(QWidget):
    """Shows the transcripts of one task; `show_files` (again with each refresh) adds new files and
    lines, and while `live` a timer reads the growing file twice a second."""

    def __init__(self, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.state = QLabel("", self)
        self.state.setObjectName("transcriptState")
        self.text = QTextBrowser(self)
        self.text.setObjectName("transcriptText")
        self.text.setOpenLinks(False)
        self.text.setPlaceholderText("No transcript: the task has not run a coding agent yet.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.state)
        layout.addWidget(self.text, 1)
        self._reading: _Reading | None = None
        self._files: list[Path] = []
        self._busy = False  # a read job is out (its callbacks clear it, on this thread)
        self._again = False  # a read was asked for while one ran: run it when that one ends
        self.live = False
        self._timer = QTimer(self)
        self._timer.setInterval(LIVE_POLL_MS)
        self._timer.timeout.connect(self._read)

    def colours(self) -> Colours:
        palette = self.palette()
        error = status_colour("failed", palette)
        return Colours(hint_colour(palette).name(), error.name() if error else "#c0392b",
                       palette.link().color().name())

    def show_files(self, task_id: int, files: list[Path], *, live: bool) -> None:
        if self._reading is None or self._reading.task_id != task_id:
            self._reading = _Reading(task_id)
            self.text.clear()
        self._files, self.live = list(files), live
        count = len(files)
        runs = "no run yet" if not count else ("1 run" if count == 1 else f"{count} runs")
        self.state.setText(f"Live: following the running agent · {runs}" if live else runs.capitalize())
        if live and not self._timer.isActive():
            self._timer.start()
        elif not live:
            self._timer.stop()
        self._read()

    def clear(self) -> None:
        self._reading, self._files, self.live = None, [], False
        self._timer.stop()
        self.text.clear()
        self.state.clear()

    def _read(self) -> None:
        reading, files, colours = self._reading, list(self._files), self.colours()
        if reading is None or not files:
            return
        if self._busy:
            self._again = True
            return
        self._busy = self.jobs.read(
            lambda: reading.read(files, colours), lambda text: self._append(reading, text), self._failed,
            owner=self, name="transcript",
        )

    def _failed(self, exc: BaseException) -> None:
        self.state.setText(f"Cannot read the transcript: {exc}")
        self._read_again()

    def _read_again(self) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self._read()

    def _append(self, reading: _Reading, text: str) -> None:
        self._read_again()
        if reading is not self._reading or not text:
            return
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertHtml(text)
        if at_end:
            bar.setValue(bar.maximum())
