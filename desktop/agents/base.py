"""What every agent kind implements, and the context a running task gets.

An agent kind turns a task's payload and its agent's config into an action: run a command, call
a URL, call a Python function. Kinds import no Qt, so the headless worker and tests use them as is.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.queue.types import Task

OUTPUT_TAIL_LINES = 200
OUTPUT_TAIL_CHARS = 16 * 1024
ATTEMPT_DETAILS = frozenset(
    {
        "session_id", "turns", "cost_usd", "input_tokens", "output_tokens", "cached_tokens",
        "final_message", "error_subtype", "transcript_path", "model",
    }
)


class PermanentError(Exception):
    """Raised by an action to fail its task at once, skipping any retries left."""


class TaskTimeout(Exception):
    """Raised when an action ran past its task's timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


class TaskCancelled(Exception):
    """Raised when an action stopped because its task was cancelled."""


class UsageLimitReached(Exception):
    """Raised when the agent's program stopped at a usage or rate limit (e.g. Claude Code's
    `rate_limit_event`, an HTTP 429): the task waits until `resets_at` (UTC epoch seconds) and
    runs again; the attempt does not count against its retries."""

    def __init__(self, resets_at: float, message: str) -> None:
        super().__init__(message)
        self.resets_at = resets_at


@dataclass
class TaskContext:
    """Handed to an action: progress, output, cancellation and the time it has left.

    Thread-safe: the worker's lease keeper sets `cancel_event` from another thread, and the
    window reads the output tail while the action writes it. `cancel_event` is made when first
    asked for (most short actions only call `check_cancelled`, and an Event costs more to make
    than a no-op task costs to run).
    """

    task: Task
    timeout_s: float | None = None
    log_path: Path | None = None
    on_progress: Callable[[int, str | None], None] | None = None
    # What the action learnt about this attempt, saved with it however it ends: session_id,
    # turns, cost_usd, input_tokens, output_tokens, cached_tokens, final_message, error_subtype,
    # transcript_path (see ATTEMPT_DETAILS). Call `report(**values)` to add to it.
    details: dict[str, Any] = field(default_factory=dict)
    # The program the action runs, as (host, process group id): saved with the attempt, so lease
    # recovery can ask `desktop.agents.supervise.group_alive` before handing its lock key on.
    # Set by `started_process`, which also tells `on_process` (the pool records it at once).
    process: tuple[str, int] | None = None
    on_process: Callable[[str, int], None] | None = None
    _tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL_LINES))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancel: threading.Event | None = field(default=None, init=False, repr=False)

    @property
    def cancel_event(self) -> threading.Event:
        """Set when the action must stop (a cancel, a timeout, a shutdown, a lost lease)."""
        with self._lock:
            if self._cancel is None:
                self._cancel = threading.Event()
            return self._cancel

    @property
    def cancelled(self) -> bool:
        event = self._cancel
        return event is not None and event.is_set()

    def check_cancelled(self) -> None:
        """Raise TaskCancelled if the task was cancelled; call it at safe points in long work."""
        if self.cancelled:
            raise TaskCancelled("cancelled while running")

    def progress(self, percent: int, message: str | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(max(0, min(100, int(percent))), message)

    def log(self, line: str) -> None:
        """Add a line of output: kept in a bounded tail, and appended to the task's log file."""
        line = line.rstrip("\n")
        with self._lock:
            self._tail.append(line)
            if self.log_path is not None:
                # Created 0600 (whatever the umask) on the first line: output can hold secrets.
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with open(fd, "a", encoding="utf-8", errors="replace") as handle:
                    handle.write(line + "\n")

    def report(self, **values: Any) -> None:
        """Record facts about this attempt (keys from ATTEMPT_DETAILS); later values win."""
        unknown = set(values) - ATTEMPT_DETAILS
        if unknown:
            raise ValueError(f"not an attempt detail: {', '.join(sorted(unknown))}")
        with self._lock:
            self.details.update(values)

    def started_process(self, host: str, pgid: int) -> None:
        """Record the program this attempt started (its host and process group id)."""
        self.process = (host, pgid)
        if self.on_process is not None:
            self.on_process(host, pgid)

    def output_tail(self) -> str:
        with self._lock:
            text = "\n".join(self._tail)
        return text[-OUTPUT_TAIL_CHARS:]


class AgentKind(Protocol):
    """An agent kind. `name` is what agents store in their `kind` column."""

    name: str
    description: str

    def validate(self, config: dict[str, Any]) -> None:
        """Raise TaskValidationError naming the field (e.g. ``config.argv``) if config is wrong."""

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> Any:
        """Do the task's work; return a JSON-serialisable result.

        Raise PermanentError to fail without retries, TaskTimeout when past `ctx.timeout_s`,
        TaskCancelled after stopping for a cancel; any other exception is a retryable failure.
        """
