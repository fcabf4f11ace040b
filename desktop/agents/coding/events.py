"""What a coding agent's output means, as typed events, and reading JSON lines that may be broken.

Programs print one JSON object per line, but through a pipe lines arrive cut (at 64 KiB), or with
one event written into the middle of another. `json_objects` keeps every object it can find in a
line and hands back the rest as text: a line never fails to parse, it becomes `Raw`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_DECODER = json.JSONDecoder()
_EVENT_START = '{"type"'  # both programs write the type first; nothing else is tried as an event
SALVAGE_MAX_CHARS = 1024 * 1024  # longer broken lines are kept whole as text


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The program opened (or resumed) a session it can be resumed by."""

    session_id: str
    model: str | None = None
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class AssistantText:
    """Text the agent wrote (a message, or the part of one that is text)."""

    text: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The agent used a tool: edit a file, run a command, search."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call gave back."""

    call_id: str | None
    output: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class TurnUsage:
    """Tokens one turn used (Codex's ``turn.completed``); `input_tokens` includes the cached ones."""

    input_tokens: int
    cached_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The program's report on its usage limit (Claude Code's ``rate_limit_event``)."""

    status: str | None
    resets_at: float | None = None
    limit_type: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error the program reported; `fatal` when it ended the run (Codex ``turn.failed``/``error``)."""

    message: str
    kind: str | None = None  # e.g. Claude's assistant ``error`` field: rate_limit, authentication_failed
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class ApiRetry:
    """The program is retrying a failed request itself (Claude Code's ``system``/``api_retry``)."""

    message: str
    attempt: int | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The end of a run (Claude Code's ``result`` line). Token counts: `input_tokens` includes cached ones."""

    subtype: str | None
    is_error: bool
    text: str | None = None
    turns: int | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    session_id: str | None = None
    api_error_status: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """A well-formed line of a type that carries nothing we use (the prompt echoed, a turn starting)."""

    type: str


@dataclass(frozen=True, slots=True)
class Raw:
    """Output that is not a JSON object: plain text, or (`broken`) a piece of a JSON line that was cut
    short or had another event written into it."""

    line: str
    broken: bool = False


def raw(part: str) -> Raw:
    """A piece of a structured program's output that did not parse, marked broken when it looks like JSON."""
    return Raw(part, broken=part.startswith(("{", "[")) or part.endswith(("}", "]")) or '{"' in part)


@dataclass(frozen=True, slots=True)
class Omitted:
    """Lines the transcript left out to stay within its size."""

    lines: int
    bytes: int


Event = (
    SessionStarted | AssistantText | ToolCall | ToolResult | TurnUsage | RateLimit | ErrorEvent | ApiRetry
    | Result | Other | Raw | Omitted
)


def json_objects(line: str) -> list[dict[str, Any] | str]:
    """The JSON objects in `line`, in order, with any text around or between them as strings.

    A whole line is one object, as programs mean it; a line with an event written into its middle,
    or cut short, yields the objects starting ``{"type"`` that are whole, and the pieces that are not.
    """
    stripped = line.strip()
    if not stripped:
        return []
    try:
        value = json.loads(stripped)
    except ValueError:
        pass
    else:
        return [value] if isinstance(value, dict) else [stripped]
    if len(stripped) > SALVAGE_MAX_CHARS:
        return [stripped]
    parts: list[dict[str, Any] | str] = []
    text_start = 0
    pos = stripped.find(_EVENT_START)
    while pos != -1:
        try:
            value, end = _DECODER.raw_decode(stripped, pos)
        except ValueError:
            pos = stripped.find(_EVENT_START, pos + 1)
            continue
        if stripped[text_start:pos].strip():
            parts.append(stripped[text_start:pos].strip())
        parts.append(value)
        text_start = end
        pos = stripped.find(_EVENT_START, end)
    if stripped[text_start:].strip():
        parts.append(stripped[text_start:].strip())
    return parts


def as_int(value: Any) -> int | None:
    """`value` as an int when it is a number (never a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one: fields of the wrong type count as absent."""
    return value if isinstance(value, dict) else {}


def text_of(content: Any) -> str:
    """The text of a tool result's content: a string, or a list of ``{"type": "text"}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str)
        )
    return "" if content is None else json.dumps(content)
