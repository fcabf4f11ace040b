"""What one run of a coding agent amounted to, folded from its events as they arrive.

Token counts follow one rule for every program: `input_tokens` counts every input token, cached
ones included; `cached_tokens` is the part read from a cache. For Claude Code that is
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens`` and
``cache_read_input_tokens``; Codex counts that way already.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from desktop.agents.coding.display import describe_tool
from desktop.agents.coding.events import (
    ApiRetry,
    AssistantText,
    ErrorEvent,
    Event,
    RateLimit,
    Raw,
    Result,
    SessionStarted,
    ToolCall,
    ToolResult,
    TurnUsage,
)

RAW_TAIL_LINES = 40
ERRORS_KEPT = 20


@dataclass
class RunSummary:
    """The running totals of one run. Fed from the output reader thread; read when the run is over."""

    workdir: str | None = None
    session_id: str | None = None
    model: str | None = None
    result: Result | None = None
    turns_seen: int = 0  # assistant messages (Claude Code) or turns (Codex) counted while it runs
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    last_text: str | None = None
    activity: str | None = None  # the last thing it did: "Edit src/app.py"
    rate_limit: RateLimit | None = None  # the last report that said the limit was hit
    errors: deque[ErrorEvent] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))
    retries: int = 0
    raw_tail: deque[str] = field(default_factory=lambda: deque(maxlen=RAW_TAIL_LINES))
    lines: int = 0
    events: int = 0
    _message_ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, event: Event) -> None:
        with self._lock:
            self.events += 1
            self._apply(event)

    def _apply(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.session_id = event.session_id
            self.model = event.model or self.model
        elif isinstance(event, AssistantText):
            self._count_message(event.message_id)
            if event.text.strip():
                self.last_text = event.text
        elif isinstance(event, ToolCall):
            self._count_message(event.message_id)
            self.activity = describe_tool(event.name, event.input, self.workdir)
        elif isinstance(event, TurnUsage):
            self.turns_seen += 1
            self.input_tokens = (self.input_tokens or 0) + event.input_tokens
            self.cached_tokens = (self.cached_tokens or 0) + event.cached_tokens
            self.output_tokens = (self.output_tokens or 0) + event.output_tokens
        elif isinstance(event, RateLimit):
            if event.status not in ("allowed", "allowed_warning"):
                self.rate_limit = event
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
        elif isinstance(event, ApiRetry):
            self.retries += 1
        elif isinstance(event, Result):
            self.result = event
            self.session_id = event.session_id or self.session_id
            self.input_tokens = event.input_tokens if event.input_tokens is not None else self.input_tokens
            self.cached_tokens = event.cached_tokens if event.cached_tokens is not None else self.cached_tokens
            self.output_tokens = event.output_tokens if event.output_tokens is not None else self.output_tokens
            self.cost_usd = event.cost_usd if event.cost_usd is not None else self.cost_usd
        elif isinstance(event, Raw) and not event.broken:  # pieces of JSON hold file contents, not errors
            self.raw_tail.append(event.line)
        elif isinstance(event, ToolResult) and event.is_error:
            self.activity = f"{self.activity or 'tool'} (failed)"

    def _count_message(self, message_id: str | None) -> None:
        if message_id is None:
            return
        if message_id not in self._message_ids:
            self._message_ids.add(message_id)
            self.turns_seen += 1

    @property
    def turns(self) -> int | None:
        """The program's own count when it gave one, else what was counted while it ran."""
        if self.result is not None and self.result.turns is not None:
            return self.result.turns
        return self.turns_seen or None

    @property
    def final_message(self) -> str | None:
        """The run's last word: the result text, else the last thing the agent wrote."""
        if self.result is not None and self.result.text:
            return self.result.text
        return self.last_text

    @property
    def error_subtype(self) -> str | None:
        """Why the run ended badly, in the program's own terms (None for a success)."""
        if self.result is not None and (self.result.is_error or self.result.subtype not in (None, "success")):
            if self.result.subtype not in (None, "success"):
                return self.result.subtype
            status = self.result.api_error_status
            return f"api_error_{status}" if status else "error"
        fatal = [e for e in self.errors if e.fatal]
        if fatal:
            return fatal[-1].kind or "error"
        return None

    def progress_message(self) -> str | None:
        """``turn 4 · Edit src/app.py``: what it is doing now, for the task's progress line."""
        with self._lock:
            if self.activity is None and not self.turns_seen:
                return None
            parts = [f"turn {max(1, self.turns_seen)}"]
            if self.activity:
                parts.append(self.activity)
            return " · ".join(parts)
