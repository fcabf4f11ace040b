"""The command kind with real subprocesses: output, exit codes, injection safety, timeouts, cancel."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task, process_gone

from desktop.agents import (
    CommandFailed,
    CommandKind,
    PermanentError,
    TaskCancelled,
    TaskTimeout,
)
from desktop.errors import TaskValidationError
from tests.waiting import wait_until

PY = sys.executable
KIND = CommandKind()


def run(config: dict[str, Any], payload: Any = None, *, timeout_s: float | None = None, log_path: Path | None = None):
    ctx = make_ctx(make_task(payload), timeout_s=timeout_s, log_path=log_path)
    return KIND.run(ctx.task, config, ctx), ctx


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_success_captures_output_in_result_tail_and_log_file(log_path: Path) -> None:
    code = "import sys\nprint('hello')\nprint('to stderr', file=sys.stderr)\nprint('world')"
    result, ctx = run({"argv": [PY, "-c", code]}, log_path=log_path)
    assert result["exit_code"] == 0
    assert result["output_tail"].splitlines() == ["hello", "to stderr", "world"]
    assert ctx.output_tail().splitlines() == ["hello", "to stderr", "world"]
    assert log_path.read_text().splitlines() == ["hello", "to stderr", "world"]


def test_non_utf8_output_is_decoded_with_replacement() -> None:
    result, _ = run({"argv": [PY, "-c", "import sys; sys.stdout.buffer.write(b'caf\\xe9\\n')"]})
    assert result["output_tail"] == "caf\ufffd"


def test_non_zero_exit_is_a_retryable_failure_with_the_last_lines() -> None:
    code = "import sys\nfor i in range(30): print('line', i)\nsys.exit(3)"
    with pytest.raises(CommandFailed) as info:
        run({"argv": [PY, "-c", code]})
    error = info.value
    assert not isinstance(error, PermanentError)
    assert str(error).startswith("exit code 3\n")
    assert "line 29" in str(error) and "line 0\n" not in str(error)
    assert error.exit_code == 3


def test_missing_program_fails_permanently() -> None:
    with pytest.raises(PermanentError, match="program not found: 'agentq-no-such-program-xyz'"):
        run({"argv": ["agentq-no-such-program-xyz", "--version"]})


def test_missing_cwd_fails_permanently(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(PermanentError, match=r"config\.cwd.*does not exist"):
        run({"argv": [PY, "-c", "pass"], "cwd": str(missing)})


def test_placeholders_fill_argv_cwd_and_env(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd()); print(os.environ['GREETING']); print(os.environ['PATH'] != '')"
    config = {"argv": [PY, "-c", code], "cwd": "{dir}", "env": {"GREETING": "hi {who}"}}
    result, _ = run(config, {"dir": str(tmp_path), "who": "there"})
    cwd, greeting, has_path = result["output_tail"].splitlines()
    assert os.path.samefile(cwd, tmp_path)
    assert greeting == "hi there"
    assert has_path == "True"  # the worker's environment is kept


def test_missing_payload_key_names_the_config_field() -> None:
    with pytest.raises(PermanentError) as info:
        run({"argv": [PY, "-c", "pass"], "cwd": "{repo}"}, {"other": 1})
    assert str(info.value) == "payload has no key 'repo' (needed by config.cwd)"


INJECTIONS = [
    "; touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "a\ntouch pwned",
    "--help",
    "&& touch pwned || touch pwned",
    "| touch pwned",
    "'\"; touch pwned; echo \"'",
    "> pwned",
    "*",
    "$HOME ${PATH}",
    "{other}",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_payload_values_arrive_as_one_literal_argument(tmp_path: Path, value: str) -> None:
    recorder = script(
        tmp_path,
        "record_args.py",
        """
        import json, sys
        with open("args.json", "w", encoding="utf-8") as f:
            json.dump(sys.argv[1:], f)
        """,
    )
    work = tmp_path / "work"
    work.mkdir()
    config = {"argv": [PY, str(recorder), "{arg}", "x{arg}y"], "cwd": str(work)}
    result, _ = run(config, {"arg": value, "other": "not substituted twice"})
    assert result["exit_code"] == 0
    assert json.loads((work / "args.json").read_text(encoding="utf-8")) == [value, f"x{value}y"]
    assert not (work / "pwned").exists()
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_nul_in_a_filled_argument_fails_permanently() -> None:
    with pytest.raises(PermanentError, match=r"config\.argv\[3\].*NUL"):
        run({"argv": [PY, "-c", "pass", "{x}"]}, {"x": "a\0b"})


def spawner(tmp_path: Path, *, ignore_term: bool = False) -> tuple[Path, Path]:
    """A script that starts a grandchild, records both pids, then sleeps."""
    pids = tmp_path / "pids.json"
    trap = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else ""
    path = script(
        tmp_path,
        "spawner.py",
        f"""
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {trap!r} + "import time; time.sleep(30)"])
        with open({str(pids)!r} + ".tmp", "w") as f:
            json.dump({{"child": os.getpid(), "grandchild": child.pid}}, f)
        os.replace({str(pids)!r} + ".tmp", {str(pids)!r})
        print("started", flush=True)
        time.sleep(30)
        """,
    )
    return path, pids


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    path, pids_file = spawner(tmp_path)
    start = time.monotonic()
    with pytest.raises(TaskTimeout) as info:
        run({"argv": [PY, str(path)]}, timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert info.value.seconds == 1.0
    assert elapsed < 3.0
    pids = json.loads(pids_file.read_text())
    assert process_gone(pids["child"])
    assert process_gone(pids["grandchild"])


def test_config_timeout_applies_when_the_task_has_none(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(TaskTimeout, match="timed out after 0.5 s"):
        run({"argv": [PY, "-c", "import time; time.sleep(30)"], "timeout_s": 0.5})
    assert time.monotonic() - start < 2.5


def test_a_grandchild_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    path, pids_file = spawner(tmp_path, ignore_term=True)
    start = time.monotonic()
    with pytest.raises(TaskTimeout):
        run({"argv": [PY, str(path)]}, timeout_s=0.8)
    elapsed = time.monotonic() - start
    assert elapsed < 0.8 + 3.0 + 1.5
    assert process_gone(json.loads(pids_file.read_text())["grandchild"])


def test_cancel_from_another_thread_stops_within_a_second(tmp_path: Path, log_path: Path) -> None:
    path, pids_file = spawner(tmp_path)
    ctx = make_ctx(make_task(None), log_path=log_path)
    cancelled_at: list[float] = []

    def cancel_when_started() -> None:
        wait_until(pids_file.exists, 5, "the program wrote its pids")
        cancelled_at.append(time.monotonic())
        ctx.cancel_event.set()

    canceller = threading.Thread(target=cancel_when_started)
    canceller.start()
    with pytest.raises(TaskCancelled):
        KIND.run(ctx.task, {"argv": [PY, str(path)]}, ctx)
    stopped = time.monotonic() - cancelled_at[0]
    canceller.join()
    assert stopped < 1.0
    pids = json.loads(pids_file.read_text())
    assert process_gone(pids["child"]) and process_gone(pids["grandchild"])
    assert "started" in ctx.output_tail()


def test_background_processes_left_holding_the_output_are_stopped(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "print(c.pid, flush=True)\n"
    )
    start = time.monotonic()
    result, _ = run({"argv": [PY, "-c", code]})
    assert time.monotonic() - start < 5.0
    assert result["exit_code"] == 0
    grandchild = int(result["output_tail"].splitlines()[0])
    assert process_gone(grandchild)


def test_already_cancelled_task_starts_nothing(tmp_path: Path) -> None:
    ctx = make_ctx(make_task(None))
    ctx.cancel_event.set()
    with pytest.raises(TaskCancelled):
        KIND.run(ctx.task, {"argv": [PY, "-c", "open('ran', 'w')"], "cwd": str(tmp_path)}, ctx)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "config.argv"),
        ({"argv": []}, "config.argv"),
        ({"argv": "echo hi"}, "config.argv"),
        ({"argv": ["echo", 3]}, "config.argv[1]"),
        ({"argv": [""]}, "config.argv[0]"),
        ({"argv": ["echo", "{a.b}"]}, "config.argv[1]"),
        ({"argv": ["echo"], "cwd": 5}, "config.cwd"),
        ({"argv": ["echo"], "cwd": "{x[0]}"}, "config.cwd"),
        ({"argv": ["echo"], "env": ["A=1"]}, "config.env"),
        ({"argv": ["echo"], "env": {"A": 1}}, "config.env.A"),
        ({"argv": ["echo"], "env": {"A=B": "1"}}, "config.env.A=B"),
        ({"argv": ["echo"], "timeout_s": 0}, "config.timeout_s"),
        ({"argv": ["echo"], "timeout_s": True}, "config.timeout_s"),
        ({"argv": ["echo"], "shell": True}, "config.shell"),
    ],
)
def test_validate_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        KIND.validate(config)
    assert info.value.field == field
    assert info.value.rule


def test_validate_accepts_a_full_config() -> None:
    KIND.validate({"argv": ["git", "-C", "{repo}", "pull"], "cwd": "{repo}", "env": {"A": "{b}"}, "timeout_s": 5})


def test_run_with_an_invalid_config_fails_permanently() -> None:
    with pytest.raises(PermanentError, match=r"config\.argv"):
        run({"argv": []})
