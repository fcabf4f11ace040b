"""Events as a person reads them: ``Edit src/app.py``, the agent's text, errors; never raw JSON."""

from __future__ import annotations

import os
import time
from typing import Any

from desktop.agents.coding.events import (
    ApiRetry,
    AssistantText,
    ErrorEvent,
    Event,
    Omitted,
    RateLimit,
    Raw,
    Result,
    SessionStarted,
    ToolCall,
    ToolResult,
)

TEXT_LINES = 20
LINE_CHARS = 400
DETAIL_CHARS = 80

# The argument that says what a tool call is about, by tool name (Claude Code's tools, Codex's).
_SUBJECT_KEYS = {
    "Edit": "file_path", "MultiEdit": "file_path", "Write": "file_path", "Read": "file_path",
    "NotebookEdit": "notebook_path", "Bash": "command", "Grep": "pattern", "Glob": "pattern",
    "WebFetch": "url", "WebSearch": "query", "Task": "description", "shell": "command", "web_search": "query",
}


def _short(text: str, limit: int = DETAIL_CHARS) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _relative(path: str, workdir: str | None) -> str:
    if workdir and os.path.isabs(path):
        try:
            relative = os.path.relpath(path, workdir)
        except ValueError:  # another drive (Windows)
            return path
        if not relative.startswith(".."):
            return relative
    return path


def describe_tool(name: str, tool_input: dict[str, Any], workdir: str | None = None) -> str:
    """``Edit src/app.py``, ``Bash npm test``: the tool and what it works on, in a few words."""
    if name == "edit":  # Codex file changes
        paths = [_relative(str(c.get("path")), workdir) for c in tool_input.get("changes") or [] if c.get("path")]
        return "Edit " + _short(", ".join(paths)) if paths else "Edit"
    key = _SUBJECT_KEYS.get(name)
    subject = tool_input.get(key) if key else None
    if subject is None:
        subject = next((v for v in tool_input.values() if isinstance(v, str) and v.strip()), None)
    if not isinstance(subject, str) or not subject.strip():
        return name
    if key in ("file_path", "notebook_path"):
        subject = _relative(subject, workdir)
    label = "Run" if name == "shell" else name
    return f"{label} {_short(subject)}"


def render(event: Event, workdir: str | None = None) -> list[str]:
    """The lines of the task's output tail (and log) that stand for `event`; none for noise."""
    if isinstance(event, AssistantText):
        lines = [_cut(line) for line in event.text.strip().splitlines()]
        return lines[:TEXT_LINES] + (["…"] if len(lines) > TEXT_LINES else [])
    if isinstance(event, ToolCall):
        return [f"→ {describe_tool(event.name, event.input, workdir)}"]
    if isinstance(event, ToolResult):
        return [f"← failed: {_short(event.output or 'no output', LINE_CHARS)}"] if event.is_error else []
    if isinstance(event, SessionStarted):
        return [f"session {event.session_id}" + (f" ({event.model})" if event.model else "")]
    if isinstance(event, ErrorEvent):
        return [f"error: {_cut(event.message)}"]
    if isinstance(event, ApiRetry):
        return [f"retrying the request: {_cut(event.message)}"]
    if isinstance(event, RateLimit):
        if event.status in ("allowed", "allowed_warning", None):
            return []
        when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(event.resets_at)) if event.resets_at else "unknown"
        return [f"usage limit reached ({event.limit_type or 'limit'}, {event.status}); resets {when}"]
    if isinstance(event, Result):
        return [_result_line(event)]
    if isinstance(event, Raw):
        if event.broken:
            return [f"(a damaged output line of {len(event.line)} characters; kept in the transcript)"]
        return [_cut(event.line)]
    if isinstance(event, Omitted):
        return [f"({event.lines} lines, {event.bytes} bytes of output left out of the transcript)"]
    return []


def _cut(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def _result_line(result: Result) -> str:
    parts = [("failed: " + (result.subtype or "error")) if result.is_error else "done"]
    if result.turns is not None:
        parts.append(f"{result.turns} turns")
    if result.cost_usd is not None:
        parts.append(f"${result.cost_usd:.4f}")
    line = " · ".join(parts)
    if result.is_error and result.text:
        line += f": {_short(result.text, LINE_CHARS)}"
    return line
