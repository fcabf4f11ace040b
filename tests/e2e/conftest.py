"""`agentq` in real subprocesses on a real database file, with its folders in the test's tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    config = tmp_path / "config"
    config.mkdir()
    # Short leases and no backoff, so a killed worker's task comes back within seconds.
    (config / "settings.json").write_text(json.dumps({"lease_s": 2.0, "retry_base_s": 0.0, "poll_interval_s": 0.1}))
    return {
        **os.environ,
        "AGENTQ_DATABASE_URL": db_url,
        "AGENTQ_CONFIG_DIR": str(config),
        "AGENTQ_DATA_DIR": str(tmp_path / "data"),
        "AGENTQ_LOG_DIR": str(tmp_path / "logs"),
        "AGENTQ_ENV": "test",
    }


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


