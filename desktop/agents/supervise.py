"""Start a program so that it, and every process it starts, dies with the worker that started it.

Why a supervising process: Linux's PR_SET_PDEATHSIG fires when the *thread* that forked the child
exits, and our programs are started from pool threads that come and go; it also reaches only the
direct child, not its process group. So `start()` runs this file as a tiny separate process,
``python -I -S supervise.py`` (stdlib only, about 15 ms), with three pipes:

- stdin is the lifeline. The worker writes the program's spec (one JSON line) and keeps the pipe
  open. End of file means the worker closed it (cancel, timeout, end of the run) or died, however
  it died, since the kernel closes a dead process's descriptors: the supervisor then stops the
  program's process group, SIGTERM then SIGKILL after the grace period.
- stdout is handed to the program as its stdout and stderr. The supervisor keeps no copy, so the
  worker reads the program's output directly, line by line, and sees end of file when the last
  process holding it exits.
- stderr carries the supervisor's status lines: ``{"pid": N}`` once the program runs, or why it
  could not start (``{"errno": ...}``), then ``{"exit": code}`` when it ended.

The program runs in its own session and process group (its pgid is its pid). The supervisor waits
for it without reaping it (``WNOWAIT``), so its group id cannot be reused by another process while
the supervisor acts on it. When the program exits, whatever it left running in its group is
stopped too, then the supervisor reaps it, reports, and exits: an attempt's processes never
outlive it, so a lock key is never held twice. A program that must leave a daemon behind has to
start it in a session of its own (``setsid``).

`group_alive(host, pgid)` tells lease recovery whether a recorded group still runs on this host.
Not built or tested on Windows: there the supervisor stops the program itself, not its children.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

TERM_GRACE_S = 3.0  # after SIGTERM, before SIGKILL
KILL_WAIT_S = 2.0  # SIGKILL is sure, but takes a moment to land
SUPERVISOR_SLACK_S = 2.0  # how much longer than its own stop the worker waits for the supervisor
POLL_S = 0.02
START_SLACK_S = 2.0  # /proc's boot time is in whole seconds
BUNDLE_FLAG = "--agentq-supervise"  # how a frozen bundle (no Python to run this file) is asked to supervise
_SEE_PROC = os.path.isdir("/proc/self")  # Linux: group members can be listed, zombies told apart


class SupervisorError(Exception):
    """The supervising process failed (not the program): a retryable failure of the attempt."""


def this_host() -> str:
    """The host name recorded with an attempt's process group."""
    return socket.gethostname()


def group_alive(host: str, pgid: int, started_before: float | None = None) -> bool | None:
    """Whether process group `pgid` on `host` still has a running (non-zombie) member, started
    before `started_before` (epoch seconds) when given: a group made later under a reused id is
    not the one recorded.

    None when `host` is another machine (or on Windows): this process cannot tell. A group that
    exists but may not be signalled (another user's) counts as alive: when unsure, wait.
    """
    if host != this_host() or not hasattr(os, "killpg"):
        return None
    return _members_alive(pgid, started_before)


class LocalPrograms:
    """The programs of this host's workers, as lease recovery asks about them
    (desktop.queue.maintenance.Programs)."""

    def alive(self, host: str, pgid: int, started_before: float) -> bool | None:
        return group_alive(host, pgid, started_before)

    def stop(self, pgid: int) -> None:
        stop_group(pgid)


LOCAL_PROGRAMS = LocalPrograms()


# -- the worker's side -------------------------------------------------------------------------


class Supervised:
    """A program started by `start()`. Like `subprocess.Popen`: `pid`, `stdout` (bytes, the
    program's stdout and stderr), `poll()`, `wait()`, `returncode`; plus `pgid`, `host` and
    `stop()`. Always end with `stop()` or a `poll()`/`wait()` that returned a code."""

    def __init__(self, supervisor: subprocess.Popen[bytes], pid: int, grace_s: float) -> None:
        self._supervisor = supervisor
        self._grace_s = grace_s
        self._lock = threading.Lock()
        self.pid = pid
        self.pgid = pid  # the program leads its own session and process group
        self.host = this_host()
        self.stdout: IO[bytes] = supervisor.stdout  # type: ignore[assignment]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The program's exit code (negative: killed by that signal) once it and its group ended."""
        if self.returncode is None and self._supervisor.poll() is not None:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the program and its group to end; raises subprocess.TimeoutExpired."""
        self._supervisor.wait(timeout)
        code = self.poll()
        assert code is not None
        return code

    def stop(self) -> int:
        """Stop the program's whole group (SIGTERM, then SIGKILL after the grace period) and wait
        until it is gone. Safe to call again, and after the program ended by itself."""
        _close(self._supervisor.stdin)  # the lifeline: the supervisor stops the group
        try:
            self._supervisor.wait(self._grace_s + KILL_WAIT_S + SUPERVISOR_SLACK_S)
        except subprocess.TimeoutExpired:  # a supervisor that does not answer: do its job
            _signal_group(self.pgid, signal.SIGKILL)
            self._supervisor.kill()
            self._supervisor.wait()
        return self.wait()

    def _finish(self) -> None:
        with self._lock:
            if self.returncode is not None:
                return
            _close(self._supervisor.stdin)
            assert self._supervisor.stderr is not None
            with self._supervisor.stderr as status:
                lines = status.read().decode("utf-8", "replace").splitlines()
            exits = [s["exit"] for s in map(_status, lines) if isinstance(s.get("exit"), int)]
            if exits:
                self.returncode = exits[-1]
                return
            # The supervisor itself was killed: make sure nothing of the program outlives it.
            _signal_group(self.pgid, signal.SIGKILL)
            code = self._supervisor.returncode or 0
            self.returncode = code if code < 0 else -signal.SIGKILL


def start(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    grace_s: float = TERM_GRACE_S,
) -> Supervised:
    """Start `argv` (no shell) under a supervising process; return once it runs.

    Raises what `subprocess.Popen` would for the program itself (FileNotFoundError for a missing
    program or folder, PermissionError, other OSErrors, ValueError for an argument that cannot be
    passed), and SupervisorError when the supervising process could not be started.
    """
    command = supervisor_command()
    try:
        supervisor = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None, start_new_session=True, close_fds=True,
        )
    except OSError as exc:
        raise SupervisorError(f"cannot start the supervising process {command[0]!r}: {exc}") from None
    assert supervisor.stdin is not None and supervisor.stderr is not None
    spec = json.dumps({"argv": list(argv), "cwd": cwd, "grace_s": grace_s})
    try:
        supervisor.stdin.write(spec.encode("ascii") + b"\n")
        supervisor.stdin.flush()
    except BrokenPipeError:
        pass  # it died at once: its stderr says why
    first = supervisor.stderr.readline()
    report = _status(first.decode("utf-8", "replace"))
    if isinstance(report.get("pid"), int):
        return Supervised(supervisor, report["pid"], grace_s)
    _close(supervisor.stdin)
    rest = supervisor.stderr.read().decode("utf-8", "replace")
    supervisor.stderr.close()
    assert supervisor.stdout is not None
    supervisor.stdout.close()
    supervisor.wait()
    raise _start_error(report, (first.decode("utf-8", "replace") + rest).strip(), supervisor.returncode)


def supervisor_command() -> list[str]:
    """How to run the supervisor: this file in an isolated interpreter, or the bundle itself."""
    if getattr(sys, "frozen", False):
        return [sys.executable, BUNDLE_FLAG]
    # -I: no PYTHON* variables, no user site, not this folder on sys.path (it holds http.py);
    # -S: no site-packages to scan. The supervisor needs only the standard library.
    return [sys.executable, "-I", "-S", os.path.abspath(__file__)]


def _status(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _start_error(report: dict[str, Any], text: str, code: int | None) -> Exception:
    if isinstance(report.get("errno"), int):
        return OSError(report["errno"], report.get("strerror") or "", report.get("filename"))
    if report.get("exception") == "ValueError":
        return ValueError(report.get("message") or "invalid argument")
    return SupervisorError(f"the supervising process failed before the program started (exit {code}): {text[-500:]}")


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None and not stream.closed:
        with contextlib.suppress(BrokenPipeError):
            stream.close()


# -- process groups ------------------------------------------------------------------------------


def stop_group(pgid: int, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM every process of group `pgid`; SIGKILL those left after `grace_s`. Returns when
    none is left running (or KILL_WAIT_S after the SIGKILL)."""
    if not _members_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    if _wait_gone(pgid, grace_s):
        return
    _signal_group(pgid, signal.SIGKILL)
    _wait_gone(pgid, KILL_WAIT_S)


def _wait_gone(pgid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while _members_alive(pgid):
        if time.monotonic() >= end:
            return False
        time.sleep(POLL_S)
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _members_alive(pgid: int, started_before: float | None = None) -> bool:
    """Whether group `pgid` has a member that is not a zombie waiting to be reaped (and, with
    `started_before`, that started before that time: /proc only)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _SEE_PROC:
        return True  # members cannot be listed here; the supervisor reaps before asking
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # state, ppid, pgrp, ...
        member = len(fields) > 19 and fields[2] == str(pgid) and fields[0] not in ("Z", "X")
        if member and (started_before is None or _started_at(int(fields[19])) <= started_before + START_SLACK_S):
            return True
    return False


def _started_at(ticks: int) -> float:
    """A process's start time (field 22 of /proc/PID/stat, in clock ticks since boot) as epoch seconds."""
    return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")


def _boot_time() -> float:
    with open("/proc/stat", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


# -- the supervisor's side -----------------------------------------------------------------------


def main() -> int:
    """The supervising process: start the program from the spec on stdin, then watch both."""
    spec = _status(sys.stdin.buffer.readline().decode("utf-8", "replace"))
    argv, cwd, grace_s = spec.get("argv"), spec.get("cwd"), float(spec.get("grace_s", TERM_GRACE_S))
    if not isinstance(argv, list) or not argv:
        _report(exception="ValueError", message="no program to run")
        return 2
    try:
        program = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=None, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    except OSError as exc:
        _report(errno=exc.errno, strerror=exc.strerror, filename=exc.filename)
        return 0
    except ValueError as exc:  # e.g. an argument that cannot be encoded
        _report(exception="ValueError", message=str(exc))
        return 0
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # only the program holds the output now, so its end is the output's end
    os.close(devnull)
    reaped = threading.Event()
    lock = threading.RLock()  # re-entered when SIGTERM arrives while the main thread holds it

    def stop(*_args: object) -> None:
        with lock:
            if not reaped.is_set():
                _stop_program(program, grace_s)

    def watch_lifeline() -> None:
        while os.read(0, 4096):
            pass  # nothing more is expected; read until end of file
        stop()

    signal.signal(signal.SIGTERM, stop)  # asked to stop (e.g. a service manager): stop the program
    _report(pid=program.pid)
    threading.Thread(target=watch_lifeline, daemon=True).start()
    hold = _SEE_PROC and hasattr(os, "waitid")
    if hold:  # wait without reaping: the group id stays ours while we stop what is left
        os.waitid(os.P_PID, program.pid, os.WEXITED | os.WNOWAIT)
    else:
        program.wait()
    if hasattr(os, "killpg"):
        with lock:
            stop_group(program.pid, grace_s)  # what it left running in its group
            code = program.wait()
            reaped.set()
    else:
        code = program.wait()
    _report(exit=code)
    sys.stderr.flush()
    os._exit(0)  # the lifeline thread may still be reading


def _stop_program(program: subprocess.Popen[bytes], grace_s: float) -> None:
    if hasattr(os, "killpg"):
        stop_group(program.pid, grace_s)
        return
    program.terminate()  # Windows: no process groups to signal
    try:
        program.wait(grace_s)
    except subprocess.TimeoutExpired:
        program.kill()


def _report(**fields: Any) -> None:
    sys.stderr.write(json.dumps(fields) + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
