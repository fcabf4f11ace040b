"""The README's curl session against `agentq serve`, run line by line in bash as a user would
(the only change: the port, since 8765 may be taken on the machine running the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.api.test_serve import serve  # noqa: F401 - the fixture
from tests.e2e.conftest import agentq

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "Over HTTP, with `agentq serve` running"


def readme_curl_session() -> list[str]:
    block = README.read_text().split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_readmes_curl_session_runs_as_written(env: dict[str, str], serve) -> None:  # noqa: F811
    lines = readme_curl_session()
    setup, commands = lines[0], lines[1:]
    assert setup.startswith("API=http://127.0.0.1:8765;")
    agentq(env, "agents", "add", "echo", "echo")
    served = serve("--no-worker")  # nothing runs the tasks: the session sees them wait
    setup = setup.replace("http://127.0.0.1:8765", served.url)
    shell_env = {**env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def run(command: str) -> str:
        done = subprocess.run(["bash", "-c", f"{setup}\n{command}"], env=shell_env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        return done.stdout

    out = [run(command) for command in commands]
    health, unauthorised, invalid, backlogged, released, processed, priority, moved, retried, workers = out
    assert json.loads(health)["status"] == "healthy"
    assert unauthorised.strip() == "401"
    assert json.loads(invalid)["field"] == "priority"
    assert json.loads(backlogged)["task"]["status"] == "backlogged"
    assert json.loads(released)["status"] == "pending"
    assert json.loads(processed)["priority"] == 5
    assert json.loads(priority)["priority"] == 2
    assert json.loads(moved)["sort_order"] < 0
    assert json.loads(retried) == {"retried": [], "refused": []}
    assert json.loads(workers) == []  # --no-worker: no pool in this server
    served.stop()
