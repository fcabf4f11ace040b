"""Every file the app itself creates, under the usual umask 022, through real `agentq` processes:
the database and its -wal/-shm, settings, logs, task logs, transcripts, patches, secrets and the
API token are 0600 in 0700 folders; and an http agent's header values and URL password never
reach the database, whichever way the agent was added (CLI, Python API, the window's dialog)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_until

from desktop.queue import TaskQueueService

TOKEN, PASSWORD = "Bearer tok-9f8e7d6c", "pw-5a4b3c"
HTTP_CONFIG = {"url": f"https://deploy:{PASSWORD}@example.invalid/hook", "headers": {"Authorization": TOKEN}}
FAKES = Path(__file__).resolve().parents[1] / "fakes"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """The user's folders, none of them made yet: the app makes every one."""
    return tmp_path / "user"


@pytest.fixture
def env(base: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENTQ_")}
    return {
        **environ, "AGENTQ_DATA_DIR": str(base / "data"), "AGENTQ_CONFIG_DIR": str(base / "config"),
        "AGENTQ_LOG_DIR": str(base / "logs"), "AGENTQ_SECRET_STORE": "file", "AGENTQ_ENV": "test",
    }


def umask_022(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "desktop", *args], env=env, capture_output=True, text=True, timeout=120, umask=0o022,
    )
    assert not check or result.returncode == 0, (args, result.stderr)
    return result


def modes(folder: Path) -> Iterator[tuple[Path, int]]:
    for path in [folder, *folder.rglob("*")]:
        yield path, stat.S_IMODE(path.stat().st_mode)


def raw_database(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*.db*"))


def test_every_file_the_app_makes_is_private_under_umask_022(env: dict[str, str], base: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"  # the coding agent's folder: the user's, not the app's
    work.mkdir()
    fake_claude = tmp_path / "claude"
    fake_claude.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "fake_claude.py"}" "$@"\n')
    fake_claude.chmod(0o755)
    umask_022(env, "agents", "add", "hook", "http", "--config", json.dumps(HTTP_CONFIG))
    umask_022(env, "agents", "add", "say", "command", "--config", json.dumps({"argv": ["echo", "hello"]}))
    umask_022(env, "agents", "add", "coder", "claude", "--cli", str(fake_claude))
    umask_022(env, "enqueue", "say")
    umask_022(env, "enqueue", "coder", "--prompt", "say hi", "--payload", json.dumps({"workdir": str(work)}))
    umask_022(env, "worker", "--burst")
    umask_022(env, "token")
    umask_022(env, "--db", str(base / "elsewhere" / "queue.db"), "--create", "agents", "add", "e", "echo")

    # A running worker holds the database open: its -wal and -shm files exist.
    stderr = tmp_path / "worker.stderr"
    with stderr.open("w") as err:  # the umask is set by Popen itself: no Python runs between fork and exec
        worker = subprocess.Popen(
            [sys.executable, "-m", "desktop", "worker"], env={**env, "PYTHONFAULTHANDLER": "1"},
            stdout=subprocess.DEVNULL, stderr=err, umask=0o022,
        )
    try:
        database = base / "data" / "queue.db"
        # 90 s: one start in about twenty took over 30 s on a loaded machine (cause not yet found).
        try:
            wait_until(lambda: database.with_name("queue.db-shm").exists(), 90, "the worker opened the database")
        except AssertionError:
            worker.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: it prints where each thread is
            worker.wait(30)
            raise AssertionError(f"the worker did not open the database in 90 s:\n{stderr.read_text()}") from None
        seen = dict(modes(base))
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)
    names = {path.name for path in seen}
    assert {"queue.db", "queue.db-wal", "queue.db-shm", "agentq.log", "secrets.json", "api-token",
            "task-1.log", "task-2.log"} <= names, sorted(names)
    assert any(path.parent.name == "transcripts" for path in seen), sorted(names)
    loose = {str(path.relative_to(base)): oct(mode) for path, mode in seen.items()
             if mode != (0o700 if path.is_dir() else 0o600) and path != base}
    assert loose == {}
    assert TOKEN.encode() not in raw_database(base) and PASSWORD.encode() not in raw_database(base)
    logs = b"".join(p.read_bytes() for p in (base / "logs").rglob("*") if p.is_file())
    assert TOKEN.encode() not in logs and PASSWORD.encode() not in logs
    stored = json.loads((base / "config" / "secrets.json").read_text())
    assert sorted(stored.values()) == sorted([TOKEN, PASSWORD])
    shown = umask_022(env, "agents", "show", "hook").stdout
    assert TOKEN not in shown and PASSWORD not in shown and "$secret:agent/hook/headers.Authorization" in shown


def test_the_python_api_keeps_secrets_out_of_the_database(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TaskQueueService.open(f"sqlite:///{db_path}") as service:
        added = service.add_agent("hook", "http", HTTP_CONFIG)
        updated = service.update_agent("hook", config={**HTTP_CONFIG, "headers": {"X-Api-Key": "key-0042"}})
    assert added.config["headers"]["Authorization"] == "$secret:agent/hook/headers.Authorization"
    assert added.config["url"] == "https://deploy@example.invalid/hook"
    assert updated.config["headers"] == {"X-Api-Key": "$secret:agent/hook/headers.X-Api-Key"}
    raw = raw_database(db_path.parent)
    assert all(secret.encode() not in raw for secret in (TOKEN, PASSWORD, "key-0042"))


def test_secrets_an_older_version_stored_in_the_database_move_out_when_it_is_opened(db_path: Path) -> None:
    url = f"sqlite:///{db_path}"
    with TaskQueueService.open(url, keep_secrets=None) as old:  # as a version before this one stored it
        old.add_agent("hook", "http", HTTP_CONFIG)
        assert old.get_agent("hook").config == HTTP_CONFIG
    with TaskQueueService.open(url) as service:
        config = service.get_agent("hook").config
    assert config["headers"]["Authorization"] == "$secret:agent/hook/headers.Authorization"
    assert config["url_password"] == "$secret:agent/hook/url_password"
    raw = raw_database(db_path.parent)
    assert TOKEN.encode() not in raw and PASSWORD.encode() not in raw
