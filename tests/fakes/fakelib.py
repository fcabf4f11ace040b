"""What the fake coding agents share: choosing a behaviour, really editing files, committing, logging.

A fake's behaviour comes from a tag in the prompt, ``[fake:rate-limit]``, or from $FAKE_AGENT_MODE;
without either it succeeds. ``[commit]`` in the prompt makes it commit its edit (as Aider would,
or an agent told to), otherwise the edit is left uncommitted. $FAKE_AGENT_LOG, when set, gets one
JSON line per run: the arguments, the working folder and the AGENTQ_* / PORT environment.
$FAKE_AGENT_DELAY_S makes each run take that long (between its first message and its edit), and
$FAKE_AGENT_GATE makes it wait there until that file exists (a test lets it go on when it has seen
the run so far).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

EDITED_FILE = "agent-output.txt"


def mode_of(prompt: str) -> str:
    match = re.search(r"\[fake:([a-z-]+)\]", prompt)
    return match.group(1) if match else os.environ.get("FAKE_AGENT_MODE", "success")


def record_run(argv: list[str]) -> None:
    log = os.environ.get("FAKE_AGENT_LOG")
    if not log:
        return
    env = {k: v for k, v in os.environ.items() if k.startswith("AGENTQ_") or k in ("PORT", "FAKE_SECRET")}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "env": env}) + "\n")


def emit(event: dict) -> None:
    """One event on one line, flushed at once, as the real programs do."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def edit_file(prompt: str) -> Path:
    """Really change a file in the working folder: append the prompt to agent-output.txt."""
    path = Path.cwd() / EDITED_FILE
    task = re.sub(r"\[[a-z:-]+\]", "", prompt).strip()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"done: {task}\n")
    return path


def commit(message: str) -> str:
    """Commit every change in the working folder; the new commit's id."""
    subprocess.run(["git", "add", "-A"], check=True, capture_output=True)
    subprocess.run(["git", "commit", "-q", "-m", message], check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def hang() -> None:
    """Wait until killed, saying where: the pid goes to $FAKE_PID_FILE."""
    pid_file = os.environ.get("FAKE_PID_FILE")
    if pid_file:
        Path(pid_file + ".tmp").write_text(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
    while True:
        time.sleep(1)


def think() -> None:
    """Take $FAKE_AGENT_DELAY_S seconds, as a real agent's turn takes a while (default: none), then
    wait for $FAKE_AGENT_GATE when it is set."""
    delay = float(os.environ.get("FAKE_AGENT_DELAY_S") or 0)
    if delay > 0:
        time.sleep(delay)
    gate = os.environ.get("FAKE_AGENT_GATE")
    while gate and not Path(gate).exists():
        time.sleep(0.05)


def resets_at() -> int:
    return int(os.environ.get("FAKE_RESETS_AT") or time.time() + 3600)
