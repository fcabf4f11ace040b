"""Running a program for a task: supervised, its own process group, output streamed line by line,
stopped on cancel or timeout. The ``command`` kind, the coding-agent presets and workspace setup
commands share it.

The program is started directly (never through a shell) under a small supervising process
(desktop/agents/supervise.py), in its own session and process group, so it and its children die
with the worker however the worker dies. On cancel or timeout the whole group gets SIGTERM, then
SIGKILL after the grace period. Output (stdout and stderr together) is read until the program
closes it; background processes still holding it open DRAIN_S after the program exited are
stopped, and so is anything the program left running in its group.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from desktop.agents import supervise
from desktop.agents.base import PermanentError, TaskCancelled, TaskTimeout

POLL_S = 0.1
DRAIN_S = 2.0  # how long output may keep flowing after the program itself exited
MAX_LINE_BYTES = 64 * 1024

_PERMANENT_ERRNOS = {errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.EISDIR, errno.EPERM}


class ProgramNotFound(PermanentError):
    """The program to run does not exist (not on PATH, or no such file)."""

    def __init__(self, program: str) -> None:
        super().__init__(f"program not found: {program!r}")
        self.program = program


class ProgramNotRunnable(PermanentError):
    """The program exists but cannot be started (not executable, not a program)."""

    def __init__(self, program: str, reason: str) -> None:
        super().__init__(f"cannot run {program!r}: {reason}")
        self.program = program
        self.reason = reason


def run_program(
    argv: Sequence[str],
    *,
    on_line: Callable[[str], None],
    cancel_event: threading.Event,
    timeout_s: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    on_note: Callable[[str], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    name: str = "program",
    on_started: Callable[[str, int], None] | None = None,
) -> int:
    """Run `argv` to its end and return its exit code (negative: killed by that signal).

    `on_line` gets each line of output (decoded as UTF-8 with replacement, without its line end;
    a line longer than `max_line_bytes` arrives in pieces) on a reader thread; if it raises, the
    output is still drained so the program never blocks on a full pipe. `on_note` gets the
    runner's own remarks; `on_started(host, pgid)` is told where the program runs once it does.
    Raises TaskCancelled once `cancel_event` is set and TaskTimeout past
    `timeout_s`, both after stopping the process group; ProgramNotFound or ProgramNotRunnable
    when it cannot start.
    """
    if cancel_event.is_set():
        raise TaskCancelled("cancelled before the program started")
    try:
        proc = supervise.start(
            list(argv), cwd=None if cwd is None else os.fspath(cwd), env=dict(env) if env is not None else None
        )
    except FileNotFoundError:
        raise ProgramNotFound(argv[0]) from None
    except OSError as exc:
        if exc.errno in _PERMANENT_ERRNOS:
            raise ProgramNotRunnable(argv[0], exc.strerror or str(exc)) from None
        raise

    reader = threading.Thread(
        target=_pump, args=(proc.stdout, on_line, max_line_bytes), name=f"{name}-output", daemon=True
    )
    reader.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        if on_started is not None:
            on_started(proc.host, proc.pgid)
        while proc.poll() is None:
            if cancel_event.is_set():
                proc.stop()
                reader.join(1.0)
                raise TaskCancelled(f"cancelled while running; the {name} was stopped")
            if deadline is not None and time.monotonic() >= deadline:
                proc.stop()
                reader.join(1.0)
                raise TaskTimeout(timeout_s)  # type: ignore[arg-type]
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            cancel_event.wait(wait)
        reader.join(DRAIN_S)
        if reader.is_alive():
            # Background processes it started still hold the output open: the task is over.
            if on_note is not None:
                on_note(f"(stopping background processes the {name} left running)")
            proc.stop()
            reader.join(1.0)
    finally:
        proc.stop()  # ends the supervisor and anything left in the program's group
    return proc.wait()


def _pump(stream: IO[bytes], on_line: Callable[[str], None], max_line_bytes: int) -> None:
    """Read the program's output line by line into `on_line` until EOF."""
    broken = False
    with stream:
        while True:
            chunk = stream.readline(max_line_bytes)
            if not chunk:
                return
            if broken:
                continue
            try:
                on_line(chunk.decode("utf-8", errors="replace").rstrip("\r\n"))
            except Exception:  # e.g. a full disk: keep draining so the program never blocks
                broken = True
