"""The supervisor with real processes: a program dies with the process that started it, however it
dies, also when the thread that started it is long gone; groups are stopped whole; errors stay
what Popen would raise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from helpers import process_gone, read_pids, wait_until

from desktop.agents import CommandKind, PermanentError, TaskContext, supervise
from desktop.agents.supervise import SupervisorError, group_alive, this_host
from tests.agents.agent_helpers import make_task

pytestmark = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc to watch processes")

FAMILY = "sleep 40 & echo $$ $! > {pids}; wait"  # a shell (the group leader) and its child


def test_output_exit_code_and_the_group_it_reports() -> None:
    proc = supervise.start(["sh", "-c", "echo out; echo err >&2; ps -o pgid= -p $$; exit 3"])
    lines = proc.stdout.read().decode().split()
    assert proc.wait(10) == 3 and proc.returncode == 3
    assert lines[:2] == ["out", "err"]
    assert int(lines[2]) == proc.pgid == proc.pid  # its own group, which it leads
    assert proc.host == this_host()


def test_output_arrives_line_by_line_while_the_program_runs(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    proc = supervise.start(["sh", "-c", f"echo first; while [ ! -e {gate} ]; do sleep 0.02; done; echo second"])
    assert proc.stdout.readline() == b"first\n"  # before the program goes on
    assert proc.poll() is None
    gate.touch()
    assert proc.stdout.readline() == b"second\n"
    assert proc.wait(10) == 0


@pytest.mark.parametrize(
    ("argv", "cwd", "error"),
    [
        (["agentq-no-such-program-xyz"], None, FileNotFoundError),
        (["true"], "/no/such/folder", FileNotFoundError),
        ([__file__], None, PermissionError),  # not executable
        (["echo", "lone \ud800 surrogate"], None, ValueError),
    ],
)
def test_a_program_that_cannot_start_raises_what_popen_would(argv: list[str], cwd: str | None, error: type) -> None:
    with pytest.raises(error) as info:
        supervise.start(argv, cwd=cwd)
    assert not isinstance(info.value, SupervisorError)


def test_a_missing_program_is_a_permanent_error_of_the_command_kind() -> None:
    task = make_task(None)
    with pytest.raises(PermanentError, match="program not found: 'agentq-no-such-program-xyz'"):
        CommandKind().run(task, {"argv": ["agentq-no-such-program-xyz"]}, TaskContext(task=task))


def test_a_supervisor_that_cannot_start_is_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/no/such/python")
    with pytest.raises(SupervisorError, match="supervising process"):
        supervise.start(["true"])


def test_stop_terms_then_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    stubborn = f"trap '' TERM; sleep 40 & echo $$ $! > {pids}; wait; wait"  # ignores SIGTERM, so does its child
    proc = supervise.start(["sh", "-c", stubborn], grace_s=0.5)
    wait_until(lambda: read_pids(pids), 5, "the program started")
    code = proc.stop()
    assert code == -signal.SIGKILL
    assert all(process_gone(pid) for pid in read_pids(pids))
    assert group_alive(proc.host, proc.pgid) is False


def test_what_the_program_leaves_in_its_group_is_stopped_when_it_exits(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A background process with its output sent elsewhere: it does not hold the output pipe open.
    proc = supervise.start(["sh", "-c", f"sleep 40 >/dev/null 2>&1 & echo $! > {pids}"])
    assert proc.wait(10) == 0
    [left] = read_pids(pids)
    assert process_gone(left)


def test_group_alive_while_running_none_for_another_host(tmp_path: Path) -> None:
    proc = supervise.start(["sleep", "40"])
    try:
        assert group_alive(proc.host, proc.pgid) is True
        assert group_alive(proc.host + "-elsewhere", proc.pgid) is None
    finally:
        proc.stop()
    assert group_alive(proc.host, proc.pgid) is False


# A process that starts a program from a short-lived thread, as a pool thread does, reports the
# program's pids, then waits to be killed.
STARTER = textwrap.dedent(
    """
    import json, sys, threading
    from desktop.agents import supervise
    started = {}
    def run():
        started["proc"] = supervise.start(["sh", "-c", sys.argv[1]])
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()  # the thread that started the program is gone (PR_SET_PDEATHSIG would fire now)
    print(json.dumps({"supervisor": started["proc"]._supervisor.pid}), flush=True)
    threading.Event().wait()
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_program_dies_with_its_starter_however_it_dies(tmp_path: Path, how: signal.Signals) -> None:
    pids = tmp_path / "pids"
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, FAMILY.format(pids=pids)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        supervisor = json.loads(starter.stdout.readline())["supervisor"]  # type: ignore[union-attr]
        wait_until(lambda: read_pids(pids), 5, "the program started")
        assert not any(process_gone(pid) for pid in read_pids(pids))  # the starting thread's end killed nothing
        starter.send_signal(how)
        starter.wait(10)
        took = wait_until(lambda: all(map(process_gone, [*read_pids(pids), supervisor])), 5, "the program died")
    finally:
        if starter.poll() is None:
            starter.kill()
    assert took < 2.0


def test_a_killed_supervisor_takes_the_program_down_with_it(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    proc = supervise.start(["sh", "-c", FAMILY.format(pids=pids)])
    wait_until(lambda: read_pids(pids), 5, "the program started")
    os.kill(proc._supervisor.pid, signal.SIGKILL)
    wait_until(lambda: proc.poll() is not None, 5, "the worker noticed")
    assert proc.returncode == -signal.SIGKILL
    wait_until(lambda: all(map(process_gone, read_pids(pids))), 5, "the program died")


def test_many_programs_from_many_threads_each_get_their_own_lifeline() -> None:
    results: list[int] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        proc = supervise.start(["sh", "-c", f"exit {n}"])
        with lock:
            results.append(proc.wait(20))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(12))


def test_a_frozen_bundle_supervises_with_its_own_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PyInstaller bundle has no Python to run supervise.py with: it runs itself with a flag."""
    bundle = tmp_path / "agentq"  # stands in for the bundle's executable: the same entry point
    bundle.write_text(f'#!/bin/sh\nexec {sys.executable} -m desktop "$@"\n')
    bundle.chmod(0o755)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle))
    assert supervise.supervisor_command() == [str(bundle), supervise.BUNDLE_FLAG]
    proc = supervise.start(["sh", "-c", "echo from the bundle; exit 4"])
    assert proc.stdout.read() == b"from the bundle\n"
    assert proc.wait(30) == 4


def test_group_alive_counts_only_members_started_before_the_time_given() -> None:
    """A group id reused by a later program is not the group an old attempt recorded."""
    import time

    before = time.time()
    proc = supervise.start(["sleep", "40"])
    try:
        assert group_alive(proc.host, proc.pgid, started_before=time.time()) is True
        assert group_alive(proc.host, proc.pgid, started_before=before - 3600) is False
        assert supervise.LOCAL_PROGRAMS.alive(proc.host, proc.pgid, time.time()) is True
        supervise.LOCAL_PROGRAMS.stop(proc.pgid)
        assert group_alive(proc.host, proc.pgid) is False
    finally:
        proc.stop()
