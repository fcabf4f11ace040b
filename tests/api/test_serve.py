"""`agentq serve` as a user runs it: a real process, real HTTP, signals to stop it."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from desktop.api.webhooks import signature
from tests.e2e.conftest import agentq
from tests.waiting import wait_until


class Served:
    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop", "serve", "--port", "0", *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.url = self._first_line().split(" on ", 1)[1].split(" ", 1)[0]
        token = agentq(env, "token").stdout.strip()
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.token = token

    def _first_line(self) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=60):
                raise AssertionError("agentq serve printed nothing within 60 s")
        line = self.proc.stdout.readline()
        died = self.proc.poll() is not None and self.proc.stderr is not None
        assert line.startswith("Agent Queue API on http://127.0.0.1:"), (line, died and self.proc.stderr.read())
        return line

    def stop(self) -> tuple[int, str]:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[type[Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = Served(env, *args)
        started.append(served)
        return served

    yield start  # type: ignore[misc]
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def _wait_for_status(client: httpx.Client, task_id: int, status: str) -> dict:
    def task() -> dict:
        return client.get(f"/tasks/{task_id}").json()["task"]

    wait_until(lambda: task()["status"] == status, 30, f"task {task_id} {status}")
    return task()


def test_serve_runs_the_api_with_a_worker_pool_and_stops_on_sigterm(env: dict[str, str], serve) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    served = serve()
    health = httpx.get(served.url + "/health").json()
    assert health["status"] == "healthy" and health["polling"]["enabled"] is True
    assert health["polling"]["intervalMs"] == 100  # the settings file of the env fixture
    [worker] = health["workers"]
    assert worker["state"] == "live" and worker["pid"] == served.proc.pid and worker["concurrency"] >= 1
    created = served.client.post("/tasks", json={"agent": "echo", "payload": {"hello": "api"}})
    assert created.status_code == 201
    assert served.client.post("/trigger-poll").json()["triggered"] is True
    done = _wait_for_status(served.client, created.json()["task"]["id"], "completed")
    assert done["result"] == {"hello": "api"}
    code, stderr = served.stop()
    assert code == 0 and "Traceback" not in stderr


def test_a_signed_webhook_through_agentq_hooks_and_serve(env: dict[str, str], serve, tmp_path: Path) -> None:
    agentq(env, "agents", "add", "echo", "echo")
    added = agentq(env, "hooks", "add", "gh", "echo", "--field", "prompt=issue.title", "--payload", '{"k": 1}',
                   "--repo-field", "repository.clone_url", "--generate-secret").stdout
    secret = added.split("webhook secret): ", 1)[1].split()[0]
    listed = agentq(env, "hooks", "list").stdout
    assert "gh" in listed and "generated secret" in listed and secret not in listed
    served = serve("--no-worker")
    body = json.dumps({"issue": {"title": "hello"}, "repository": {"clone_url": "git@github.com:me/app.git"}}).encode()
    good = httpx.post(served.url + "/hooks/gh", content=body, headers={"X-Hub-Signature-256": signature(secret, body)})
    assert good.status_code == 201 and good.json()["task"]["payload"] == {"k": 1, "prompt": "hello"}
    assert good.json()["task"]["lock_key"] == "repo:github.com/me/app"
    bad = httpx.post(served.url + "/hooks/gh", content=body, headers={"X-Hub-Signature-256": signature("x", body)})
    assert bad.status_code == 401
    assert served.client.post("/trigger-poll").status_code == 409  # --no-worker
    assert httpx.get(served.url + "/health").json()["workers"] == []
    code, _ = served.stop()
    assert code == 0
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log*"))
    assert "hook gh: refused" in logs and secret not in logs and served.token not in logs
    agentq(env, "hooks", "remove", "gh")
    assert "no hooks" in agentq(env, "hooks", "list").stdout


def test_binding_a_non_loopback_address_needs_allow_remote(env: dict[str, str]) -> None:
    refused = agentq(env, "serve", "--host", "0.0.0.0", "--port", "0", check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
    assert "not a loopback address" in refused.stderr and "--allow-remote" in refused.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop", "serve", "--host", "0.0.0.0", "--port", "0", "--allow-remote", "--no-worker"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        port = int(line.split("http://0.0.0.0:", 1)[1].split(" ", 1)[0])
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "warning: the API listens on 0.0.0.0, reachable from other machines" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_busy_port_is_one_line(env: dict[str, str], serve) -> None:
    served = serve("--no-worker")
    port = served.url.rsplit(":", 1)[1]
    busy = agentq(env, "serve", "--port", port, "--no-worker", check=False)
    assert busy.returncode == 1
    assert busy.stderr.strip() == f"agentq: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    served.stop()


def test_agentq_token_is_private_and_rotates(env: dict[str, str]) -> None:
    first = agentq(env, "token").stdout.strip()
    assert len(first) >= 40 and agentq(env, "token").stdout.strip() == first
    path = Path(env["AGENTQ_CONFIG_DIR"]) / "api-token"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    rotated = agentq(env, "token", "--rotate").stdout.strip()
    assert rotated != first and agentq(env, "token").stdout.strip() == rotated
