"""Running a program for a task: its own process group, output streamed line by line, stopped on
cancel or timeout. The ``command`` kind and the coding-agent presets share it.

The program is started directly (never through a shell) in a new session, so it leads its own
process group. On cancel or timeout the whole group gets SIGTERM, then SIGKILL after
TERM_GRACE_S, so children it started are stopped too. Output (stdout and stderr together) is read
until the program closes it; background processes still holding it open DRAIN_S after the program
exited are stopped.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from desktop.agents.base import PermanentError, TaskCancelled, TaskTimeout

POLL_S = 0.1
TERM_GRACE_S = 3.0
KILL_WAIT_S = 2.0
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
) -> int:
    """Run `argv` to its end and return its exit code (negative: killed by that signal).

    `on_line` gets each line of output (decoded as UTF-8 with replacement, without its line end;
    a line longer than `max_line_bytes` arrives in pieces) on a reader thread; if it raises, the
    output is still drained so the program never blocks on a full pipe. `on_note` gets the
    runner's own remarks. Raises TaskCancelled once `cancel_event` is set and TaskTimeout past
    `timeout_s`, both after stopping the process group; ProgramNotFound or ProgramNotRunnable
    when it cannot start.
    """
    if cancel_event.is_set():
        raise TaskCancelled("cancelled before the program started")
    try:
        proc = subprocess.Popen(
            list(argv),
            shell=False,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ProgramNotFound(argv[0]) from None
    except OSError as exc:
        if exc.errno in _PERMANENT_ERRNOS:
            raise ProgramNotRunnable(argv[0], exc.strerror or str(exc)) from None
        raise

    assert proc.stdout is not None
    reader = threading.Thread(
        target=_pump, args=(proc.stdout, on_line, max_line_bytes), name=f"{name}-output", daemon=True
    )
    reader.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while proc.poll() is None:
            if cancel_event.is_set():
                stop(proc)
                reader.join(1.0)
                raise TaskCancelled(f"cancelled while running; the {name} was stopped")
            if deadline is not None and time.monotonic() >= deadline:
                stop(proc)
                reader.join(1.0)
                raise TaskTimeout(timeout_s)  # type: ignore[arg-type]
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            cancel_event.wait(wait)
        reader.join(DRAIN_S)
        if reader.is_alive():
            # Background processes it started still hold the output open: the task is over.
            if on_note is not None:
                on_note(f"(stopping background processes the {name} left running)")
            stop(proc)
            reader.join(1.0)
    except BaseException:
        if proc.poll() is None:
            stop(proc)
        raise
    return proc.returncode


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


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the program and its process group: SIGTERM, then SIGKILL after TERM_GRACE_S."""
    if not hasattr(os, "killpg"):  # Windows: no process groups to signal
        proc.terminate()
        try:
            proc.wait(TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    pgid = proc.pid  # start_new_session made the program its group's leader
    _signal_group(pgid, signal.SIGTERM)
    end = time.monotonic() + TERM_GRACE_S
    while time.monotonic() < end:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    end = time.monotonic() + KILL_WAIT_S  # SIGKILL is sure, but takes a moment to land
    while time.monotonic() < end:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.02)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether the group still has a member that is not a zombie waiting to be reaped."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True  # cannot tell zombies apart here; assume it is still running
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False
