"""The PyInstaller folder bundle builds, and starts without the project's Python environment."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
# The first test builds the bundle in its setup: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    env = {**os.environ, "DIST": str(out / "dist"), "WORK": str(out / "work")}
    subprocess.run(["bash", str(REPO / "packaging" / "build_bundle.sh")], env=env, check=True, capture_output=True,
                   timeout=900)
    return out / "dist" / "agentq" / "agentq"


def _clean_env(home: Path) -> dict[str, str]:
    """No virtualenv, no PYTHONPATH: only what a user's desktop session would have."""
    return {
        "HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
        "AGENTQ_DATA_DIR": str(home / "data"), "AGENTQ_LOG_DIR": str(home / "logs"),
        "AGENTQ_CONFIG_DIR": str(home / "config"),
    }


@pytest.mark.slow
def test_the_bundle_runs_commands_and_a_worker(bundle: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path)

    def run(*args: str) -> str:
        return subprocess.run([str(bundle), *args], env=env, capture_output=True, text=True, check=True,
                              timeout=60).stdout

    assert run("--version").startswith("agentq ")
    run("agents", "add", "echo", "echo")
    run("enqueue", "echo", "--payload", '{"from": "bundle"}')
    run("worker", "--burst")
    assert "completed" in run("list")


@pytest.mark.slow
def test_the_bundle_serves_the_http_api(bundle: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([str(bundle), "serve", "--port", "0"], env=_clean_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line.startswith("Agent Queue API on http://127.0.0.1:"), proc.stderr.read() if proc.poll() else line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert httpx.get(url + "/health", timeout=30).json()["status"] == "healthy"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_the_bundle_opens_the_window_and_exits_cleanly(bundle: Path, tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    env = {**_clean_env(tmp_path), "AGENTQ_SCREENSHOT": str(shot)}
    result = subprocess.run([str(bundle)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 10_000  # a real window was drawn
