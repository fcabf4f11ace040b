"""`agentq` in real subprocesses on a real database file, with its folders in the test's tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def agentq(
    env: dict[str, str], *args: str, input: str | None = None, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "desktop", *args], env=env, input=input, capture_output=True, text=True, timeout=120,
        cwd=cwd,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"agentq {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


