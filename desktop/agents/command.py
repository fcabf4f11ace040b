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

The working folder must be an absolute path without ``..``, also once filled. A ``cwd`` made of
placeholders lets whoever enqueues tasks choose the folder the program runs in: give such an agent
only to callers you would let run the program in any of your folders.

The program runs in its own session and process group, under a small supervising process
(desktop/agents/process.py, desktop/agents/supervise.py), so it dies with the worker however the
worker dies. On cancel or timeout the whole group gets SIGTERM, then SIGKILL after 3 s, so
children it started are stopped too; when the program exits, whatever it left running in its
group is stopped the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import deque
from pathlib import PurePath
from typing import Any

from desktop.agents._config import config_dict, positive_seconds, string_map, validated
from desktop.agents.base import PermanentError, TaskContext
from desktop.agents.placeholders import fill, names
from desktop.agents.process import ProgramNotFound, run_program
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

RESULT_TAIL_LINES = 50
RESULT_TAIL_CHARS = 8 * 1024
ERROR_TAIL_LINES = 20
ERROR_TAIL_CHARS = 4 * 1024

_SETTINGS = ("argv", "cwd", "env", "timeout_s")


class CommandFailed(Exception):
    """The program exited with a non-zero code; retryable like any ordinary failure."""

    def __init__(self, exit_code: int, output_tail: str) -> None:
        message = f"exit code {exit_code}"
        if exit_code < 0:
            with contextlib.suppress(ValueError):
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
            if not cwd.startswith("{") and _unsafe_folder(cwd):
                rule = "must be an absolute folder path without '..' (~ is not expanded)"
                raise TaskValidationError("config.cwd", rule)
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
        if cwd is not None and _unsafe_folder(cwd):
            raise PermanentError(f"config.cwd must be an absolute folder path without '..' once filled; got {cwd!r}")
        if cwd is not None and not os.path.isdir(cwd):
            raise PermanentError(f"config.cwd: the folder {cwd!r} does not exist")
        timeout = ctx.timeout_s if ctx.timeout_s is not None else positive_seconds(config, "timeout_s")

        ctx.check_cancelled()
        lines: deque[str] = deque(maxlen=RESULT_TAIL_LINES)
        log_broken = False

        def on_line(line: str) -> None:
            nonlocal log_broken
            lines.append(line)
            if not log_broken:
                try:
                    ctx.log(line)
                except Exception:  # e.g. a full disk: keep the tail, stop writing the log
                    log_broken = True

        try:
            code = run_program(
                argv,
                on_line=on_line,
                on_note=ctx.log,
                cancel_event=ctx.cancel_event,
                timeout_s=timeout,
                cwd=cwd,
                env={**os.environ, **extra_env},
                name="command",
                on_started=ctx.started_process,
            )
        except ProgramNotFound:
            raise PermanentError(f"program not found: {argv[0]!r} (config.argv[0])") from None
        if code != 0:
            raise CommandFailed(code, _tail(lines, ERROR_TAIL_LINES, ERROR_TAIL_CHARS))
        return {"exit_code": 0, "output_tail": _tail(lines, RESULT_TAIL_LINES, RESULT_TAIL_CHARS)}


def _unsafe_folder(path: str) -> bool:
    """A relative path, or one with a '..' component: it could lead out of the intended folder."""
    return not os.path.isabs(path) or ".." in PurePath(path).parts


def _check_no_nul(argv: list[str], cwd: str | None, env: dict[str, str]) -> None:
    for i, arg in enumerate(argv):
        if "\0" in arg:
            raise PermanentError(f"config.argv[{i}] contains a NUL character once filled from the payload")
    if cwd is not None and "\0" in cwd:
        raise PermanentError("config.cwd contains a NUL character once filled from the payload")
    for key, value in env.items():
        if "\0" in value:
            raise PermanentError(f"config.env.{key} contains a NUL character once filled from the payload")


def _tail(lines: deque[str], count: int, chars: int) -> str:
    text = "\n".join(list(lines)[-count:])
    return text[-chars:]
