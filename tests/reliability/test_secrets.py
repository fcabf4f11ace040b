"""Secrets out of the database: references in the config, values in the keyring or a 0600 file or
the environment, resolved only when an http task runs against a real local server."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest

from desktop import paths, secrets
from desktop.agents import HttpError, HttpKind, PermanentError, TaskContext
from desktop.errors import TaskValidationError
from desktop.queue import TaskQueueService
from desktop.secrets import SecretError, extract, move_plain_secrets, resolve
from tests.agents.agent_helpers import make_task

TOKEN = "Bearer tok-0123456789abcdef-secret"
PASSWORD = "p@ss:word-9876543210"


class Recorder(BaseHTTPRequestHandler):
    """Records each request's headers; /echo answers 500 with the headers it got, like a careless server."""

    server: RecordingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(dict(self.headers))
        body = json.dumps(dict(self.headers)).encode() if self.path == "/echo" else b"{}"
        self.send_response(500 if self.path == "/echo" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RecordingServer(ThreadingHTTPServer):
    seen: list[dict[str, str]]


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    httpd = RecordingServer(("127.0.0.1", 0), Recorder)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def file_store(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(secrets.STORE_ENV, "file")
    return paths.config_dir() / secrets.FILE_NAME


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend in memory: stands in for the desktop's secret service."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.values[(service, username)]


@pytest.fixture
def system_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    monkeypatch.delenv(secrets.STORE_ENV, raising=False)
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    secrets._usable_keyring.cache_clear()
    yield backend
    keyring.set_keyring(previous)
    secrets._usable_keyring.cache_clear()


def http_config(url: str) -> dict[str, Any]:
    return {
        "url": url.replace("://", f"://bot:{PASSWORD.replace('@', '%40')}@"),
        "headers": {"Authorization": TOKEN, "Content-Type": "application/json", "X-Repo": "{repo}"},
    }


def run_http(config: dict[str, Any], payload: Any) -> tuple[Any, TaskContext]:
    task = make_task(payload)
    ctx = TaskContext(task=task)
    return HttpKind().run(task, config, ctx), ctx


def test_extract_replaces_header_values_and_the_url_password_with_references() -> None:
    config = http_config("https://api.example.com/hook")
    moved, found = extract("deploy", "http", config)
    assert moved == {
        "url": "https://bot@api.example.com/hook",
        "url_password": "$secret:agent/deploy/url_password",
        "headers": {
            "Authorization": "$secret:agent/deploy/headers.Authorization",
            "Content-Type": "application/json",  # never a secret
            "X-Repo": "{repo}",  # a template: its value comes from the payload
        },
    }
    assert found == {"agent/deploy/url_password": PASSWORD, "agent/deploy/headers.Authorization": TOKEN}
    assert config["headers"]["Authorization"] == TOKEN  # the caller's dict is left as it was
    assert extract("deploy", "http", moved) == (moved, {})  # references stay references
    assert extract("build", "command", {"argv": ["make"]}) == ({"argv": ["make"]}, {})


def test_secrets_go_to_a_0600_file_without_a_keyring_and_resolve_back(file_store: Path) -> None:
    moved, found = extract("deploy", "http", http_config("https://api.example.com/hook"))
    secrets.save(found)
    assert stat.S_IMODE(os.stat(file_store).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(file_store.parent).st_mode) == 0o700
    assert resolve(moved)["headers"]["Authorization"] == TOKEN
    assert resolve(moved)["url_password"] == PASSWORD
    secrets.KEEPER.forget("deploy", moved, in_use=[])
    with pytest.raises(SecretError, match=r"config.headers.Authorization: no secret \$secret:agent/deploy/headers"):
        resolve(moved)


def test_secrets_go_to_the_system_keyring_when_there_is_one(system_keyring: MemoryKeyring) -> None:
    moved = move_plain_secrets("deploy", "http", http_config("https://api.example.com/hook"))
    assert moved is not None
    assert system_keyring.values[(secrets.KEYRING_SERVICE, "agent/deploy/headers.Authorization")] == TOKEN
    assert not (paths.config_dir() / secrets.FILE_NAME).exists()
    assert resolve(moved)["headers"]["Authorization"] == TOKEN
    assert move_plain_secrets("deploy", "http", moved) is None  # nothing left to move


def test_env_references_are_read_at_run_time_and_never_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"url": "https://api.example.com/", "headers": {"Authorization": "$env:AGENTQ_TEST_TOKEN"}}
    assert extract("deploy", "http", config) == (config, {})
    monkeypatch.setenv("AGENTQ_TEST_TOKEN", TOKEN)
    assert resolve(config)["headers"]["Authorization"] == TOKEN
    monkeypatch.delenv("AGENTQ_TEST_TOKEN")
    with pytest.raises(SecretError, match="environment variable AGENTQ_TEST_TOKEN is not set") as info:
        resolve(config)
    assert TOKEN not in str(info.value)


def test_the_agents_table_never_holds_the_secret(file_store: Path, db_path: Path) -> None:
    moved, found = extract("deploy", "http", http_config("http://127.0.0.1:9/hook"))
    secrets.save(found)
    service = TaskQueueService.open(f"sqlite:///{db_path}")
    try:
        service.add_agent("deploy", "http", moved)
        stored = service.get_agent("deploy").config
    finally:
        service.close()
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("queue.db*"))
    assert TOKEN.encode() not in raw and b"p@ss" not in raw and b"p%40ss" not in raw
    assert stored == moved


def test_removing_or_changing_an_agent_deletes_the_secrets_only_it_used(
    system_keyring: MemoryKeyring, db_path: Path
) -> None:
    with TaskQueueService.open(f"sqlite:///{db_path}") as service:
        service.add_agent("deploy", "http", http_config("http://127.0.0.1:9/hook"))
        service.add_agent("copy", "http", service.get_agent("deploy").config)  # its references, copied
        service.add_agent("own", "http", {"url": "http://127.0.0.1:9/own", "headers": {"X-Api-Key": "k-123"}})
        system_keyring.values[(secrets.KEYRING_SERVICE, "by-hand")] = "kept"
        service.update_agent("own", config={"url": "http://127.0.0.1:9/own", "headers": {"X-Token": "$secret:by-hand"}})
        assert (secrets.KEYRING_SERVICE, "agent/own/headers.X-Api-Key") not in system_keyring.values
        service.remove_agent("copy")
        assert len(system_keyring.values) == 3  # deploy's two, still in deploy's config, and by-hand
        service.remove_agent("deploy")
        service.remove_agent("own")
    assert system_keyring.values == {(secrets.KEYRING_SERVICE, "by-hand"): "kept"}  # not ours to delete


def test_an_http_task_sends_resolved_secrets_and_never_shows_them(file_store: Path, server: RecordingServer) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    moved, found = extract("deploy", "http", http_config(base + "/ok"))
    secrets.save(found)
    result, ctx = run_http(moved, {"repo": "app"})
    assert result["status"] == 200
    [headers] = server.seen
    assert headers["Authorization"] == TOKEN and headers["X-Repo"] == "app"

    moved["url"] = moved["url"].replace("/ok", "/echo")  # a server that echoes the headers back
    task = make_task({"repo": "app"})
    ctx = TaskContext(task=task)
    with pytest.raises(HttpError) as info:
        HttpKind().run(task, moved, ctx)
    shown = str(info.value) + ctx.output_tail()
    assert "Authorization" in ctx.output_tail()  # the echo was logged...
    assert "tok-0123456789abcdef" not in shown and PASSWORD not in shown  # ...with the secrets redacted


def test_a_missing_secret_fails_the_task_for_good_naming_the_reference(file_store: Path) -> None:
    config = {"url": "http://127.0.0.1:9/", "headers": {"Authorization": "$secret:agent/gone/headers.Authorization"}}
    with pytest.raises(PermanentError, match=r"no secret \$secret:agent/gone/headers.Authorization"):
        run_http(config, {})


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"url": "https://a.example/", "headers": {"A": "$secret:"}}, "config.headers.A"),
        ({"url": "https://a.example/", "headers": {"A": "$env:1BAD"}}, "config.headers.A"),
        ({"url": "https://a.example/", "url_password": 5}, "config.url_password"),
        ({"url": "https://u:p@a.example/", "url_password": "$env:P"}, "config.url_password"),
        ({"url": "{url}", "allowed_hosts": []}, "config.allowed_hosts"),
        ({"url": "{url}", "allowed_hosts": ["ok.example", "not a host"]}, "config.allowed_hosts[1]"),
    ],
)
def test_bad_references_and_host_lists_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        HttpKind().validate(config)
    assert info.value.field == field


def test_allowed_hosts_refuse_any_other_host_a_payload_names(server: RecordingServer) -> None:
    port = server.server_address[1]
    config = {"url": "{url}", "allowed_hosts": ["127.0.0.1", "*.example.org"]}
    assert run_http(config, {"url": f"http://127.0.0.1:{port}/ok"})[0]["status"] == 200
    for host in ("localhost", "example.org", "evil-example.org", "127.0.0.1.evil.test"):
        with pytest.raises(PermanentError, match=f"the host '{host}' is not in config.allowed_hosts"):
            run_http(config, {"url": f"http://{host}:{port}/ok"})
    assert len(server.seen) == 1  # refused before any request was sent


def test_without_a_usable_keyring_the_file_is_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backends import fail

    monkeypatch.delenv(secrets.STORE_ENV, raising=False)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    secrets._usable_keyring.cache_clear()
    try:
        assert [store.name for store in secrets.stores()] == ["file"]
        monkeypatch.setenv(secrets.STORE_ENV, "keyring")
        with pytest.raises(SecretError, match="no usable system keyring"):
            secrets.stores()
    finally:
        keyring.set_keyring(previous)
        secrets._usable_keyring.cache_clear()
