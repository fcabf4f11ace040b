"""The ``command`` kind: run a program with arguments filled from the task's payload.

Config::

    {"argv": ["git", "-C", "{repo}", "pull"],   # required; argv[0] is the program
     "cwd": "{repo}",                           # optional working folder
     "env": {"GIT_TERMINAL_PROMPT": "0"},       # optional, added to the worker's environment
     "timeout_s": 600}                          # optional; the task's own timeout wins

The program is started directly (never through a shell), so each filled argv element reaches
it as exactly one argument, whatever it contains: ``; rm -rf ~``, ``$(...)``, backquotes, line
breaks and leading dashes are all passed literally. (A leading dash can still be read as an
option by the program itself; put ``--`` before payload arguments where that matters.)

The program runs in its own session and process group. On cancel or timeout the whole group
gets SIGTERM, then SIGKILL after 3 s, so children it started are stopped too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from collections import deque
from typing import IO, Any

from desktop.agents._config import config_dict, positive_seconds, string_map, validated
from desktop.agents.base import PermanentError, TaskCancelled, TaskContext, TaskTimeout
from desktop.agents.placeholders import fill, names
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

POLL_S = 0.1
TERM_GRACE_S = 3.0
KILL_WAIT_S = 2.0
DRAIN_S = 2.0  # how long output may keep flowing after the program itself exited
MAX_LINE_BYTES = 64 * 1024
RESULT_TAIL_LINES = 50
RESULT_TAIL_CHARS = 8 * 1024
ERROR_TAIL_LINES = 20
ERROR_TAIL_CHARS = 4 * 1024

_SETTINGS = ("argv", "cwd", "env", "timeout_s")
_PERMANENT_ERRNOS = {errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ENOTDIR, errno.EISDIR, errno.EPERM}


class CommandFailed(Exception):
    """The program exited with a non-zero code; retryable like any ordinary failure."""

    def __init__(self, exit_code: int, output_tail: str) -> None:
        message = f"exit code {exit_code}"
        if exit_code < 0:
            with contextlib.suppress(ValueError):  # not a signal this platform names
                message += f" (killed by {signal.Signals(-exit_code).name})"
        if output_tail:
            message += "\n" + output_tail
        super().__init__(message)
        self.exit_code = exit_code
        self.output_tail = output_tail


class CommandKind:
    """Runs a program with filled-in arguments, streaming its output to the task's log."""

    name = "command"
    description = "Run a program (no shell) with arguments filled from the payload."

    def validate(self, config: dict[str, Any]) -> None:
        config = config_dict(config, _SETTINGS, self.name)
        argv = config.get("argv")
        if not isinstance(argv, list) or not argv:
            raise TaskValidationError("config.argv", "must be a non-empty list of strings, the program first")
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                raise TaskValidationError(f"config.argv[{i}]", "must be a string")
            if "\0" in arg:
                raise TaskValidationError(f"config.argv[{i}]", "must not contain a NUL character")
        if not argv[0].strip():
            raise TaskValidationError("config.argv[0]", "must name the program to run")
        names(argv, "config.argv")
        cwd = config.get("cwd")
        if cwd is not None:
            if not isinstance(cwd, str) or not cwd.strip() or "\0" in cwd:
                raise TaskValidationError("config.cwd", "must be a folder path (a non-empty string)")
            names(cwd, "config.cwd")
        env = string_map(config, "env")
        for key, value in env.items():
            if "=" in key or "\0" in key or "\0" in value:
                raise TaskValidationError(f"config.env.{key}", "names must not contain '=' and nothing may contain NUL")
        names(env, "config.env")
        positive_seconds(config, "timeout_s")

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        config = validated(self.validate, config)
        payload = task.payload
        argv: list[str] = fill(config["argv"], payload, "config.argv")
        cwd: str | None = fill(config.get("cwd"), payload, "config.cwd")
        extra_env: dict[str, str] = fill(config.get("env") or {}, payload, "config.env")
        _check_no_nul(argv, cwd, extra_env)
        if cwd is not None and not os.path.isdir(cwd):
            raise PermanentError(f"config.cwd: the folder {cwd!r} does not exist")
        timeout = ctx.timeout_s if ctx.timeout_s is not None else positive_seconds(config, "timeout_s")

        ctx.check_cancelled()
        try:
            proc = subprocess.Popen(
                argv,
                shell=False,
                cwd=cwd,
                env={**os.environ, **extra_env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise PermanentError(f"program not found: {argv[0]!r} (config.argv[0])") from None
        except OSError as exc:
            if exc.errno in _PERMANENT_ERRNOS:
                raise PermanentError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
            raise

        assert proc.stdout is not None
        lines: deque[str] = deque(maxlen=RESULT_TAIL_LINES)
        reader = threading.Thread(
            target=_pump, args=(proc.stdout, ctx, lines), name=f"command-output-{task.id}", daemon=True
        )
        reader.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if ctx.cancelled:
                    _stop(proc)
                    reader.join(1.0)
                    raise TaskCancelled("cancelled while running; the command was stopped")
                if deadline is not None and time.monotonic() >= deadline:
                    _stop(proc)
                    reader.join(1.0)
                    raise TaskTimeout(timeout)  # type: ignore[arg-type]
                wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
                ctx.cancel_event.wait(wait)
            reader.join(DRAIN_S)
            if reader.is_alive():
                # Background processes it started still hold the output open: the task is over.
                ctx.log("(stopping background processes the command left running)")
                _stop(proc)
                reader.join(1.0)
        except BaseException:
            if proc.poll() is None:
                _stop(proc)
            raise

        code = proc.returncode
        if code != 0:
            raise CommandFailed(code, _tail(lines, ERROR_TAIL_LINES, ERROR_TAIL_CHARS))
        return {"exit_code": 0, "output_tail": _tail(lines, RESULT_TAIL_LINES, RESULT_TAIL_CHARS)}


def _check_no_nul(argv: list[str], cwd: str | None, env: dict[str, str]) -> None:
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise PermanentError(f"config.argv[{i}] contains a NUL character once filled from the payload")
    if cwd is not None and "\0" in cwd:
        raise PermanentError("config.cwd contains a NUL character once filled from the payload")
    for key, value in env.items():
        if "\0" in value:
            raise PermanentError(f"config.env.{key} contains a NUL character once filled from the payload")


def _pump(stream: IO[bytes], ctx: TaskContext, lines: deque[str]) -> None:
    """Read the program's output line by line into `lines` and the task's log until EOF."""
    log_broken = False
    with stream:
        while True:
            chunk = stream.readline(MAX_LINE_BYTES)
            if not chunk:
                return
            line = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
            lines.append(line)
            if not log_broken:
                try:
                    ctx.log(line)
                except Exception:  # e.g. a full disk: keep draining so the program never blocks
                    log_broken = True


def _tail(lines: deque[str], count: int, chars: int) -> str:
    text = "\n".join(list(lines)[-count:])
    return text[-chars:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
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
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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
