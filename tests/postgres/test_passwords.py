"""The database password never shows: not in service.url, errors, tracebacks or logs; and a URL
without one gets it from the environment or the system keyring."""

from __future__ import annotations

import logging
import socket
import sys
import traceback
import types

import pytest
from sqlalchemy.engine import make_url

from desktop.bootstrap import KEYRING_SERVICE, open_queue, with_password
from desktop.config import PROFILES
from desktop.errors import DatabaseFileError
from desktop.queue import TaskQueueService

SECRET = "not-the-password-7f3a"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "alembic", "desktop"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def everything_said(exc: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return "".join(traceback.format_exception(exc)) + caplog.text


def test_service_url_and_engine_hide_the_password(postgres_url: str, debug_logs) -> None:
    password = make_url(postgres_url).password
    assert password
    with TaskQueueService.open(postgres_url) as service:
        service.add_agent("echo", "echo")
        service.enqueue("echo")
        assert password not in service.url and "***" in service.url
        assert password not in repr(service.engine)
    assert debug_logs.records, "migrations and queries logged something"
    assert password not in debug_logs.text


def test_a_wrong_password_is_refused_clearly_without_showing_it(postgres_url: str, debug_logs) -> None:
    url = make_url(postgres_url).set(password=SECRET)
    with pytest.raises(DatabaseFileError, match="Cannot reach the database server") as error:
        TaskQueueService.open(url)
    assert "password authentication failed" in str(error.value)
    assert "***" in str(error.value)
    assert SECRET not in everything_said(error.value, debug_logs)


def test_an_unreachable_server_is_explained_without_the_password(debug_logs) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DatabaseFileError, match="Cannot reach") as error:
        TaskQueueService.open(f"postgresql://agentq:{SECRET}@127.0.0.1:{port}/agentq")
    assert SECRET not in everything_said(error.value, debug_logs)


# -- where a URL without a password gets one ---------------------------------------------------------


@pytest.fixture
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("AGENTQ_DATABASE_PASSWORD", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` fails: not installed
    return monkeypatch


def fake_keyring(passwords: dict[tuple[str, str], str], fail: bool = False) -> types.ModuleType:
    module = types.ModuleType("keyring")

    def get_password(service: str, username: str) -> str | None:
        if fail:
            raise RuntimeError("no recommended backend was available")
        return passwords.get((service, username))

    module.get_password = get_password  # type: ignore[attr-defined]
    return module


def test_the_environment_gives_the_password(no_password_env: pytest.MonkeyPatch) -> None:
    no_password_env.setenv("AGENTQ_DATABASE_PASSWORD", SECRET)
    assert with_password("postgresql://team@db.example/agentq").password == SECRET
    assert with_password(f"postgresql://team:{'given'}@db.example/agentq").password == "given"
    assert with_password("sqlite:///queue.db").password is None


def test_the_keyring_gives_the_password_when_the_environment_does_not(no_password_env: pytest.MonkeyPatch) -> None:
    assert with_password("postgresql://team@db.example/agentq").password is None  # no keyring module
    no_password_env.setitem(sys.modules, "keyring", fake_keyring({(KEYRING_SERVICE, "team"): SECRET}))
    url = with_password("postgres://team@db.example/agentq")
    assert url.password == SECRET and url.drivername == "postgresql+psycopg"
    assert with_password("postgresql://other@db.example/agentq").password is None
    no_password_env.setenv("PGPASSWORD", "libpq-reads-this")  # libpq's own variable wins; left to it
    assert with_password("postgresql://team@db.example/agentq").password is None
    no_password_env.delenv("PGPASSWORD")
    no_password_env.setitem(sys.modules, "keyring", fake_keyring({}, fail=True))  # a headless machine
    assert with_password("postgresql://team@db.example/agentq").password is None


def test_open_queue_uses_the_password_from_the_environment(
    postgres_url: str, no_password_env: pytest.MonkeyPatch, debug_logs
) -> None:
    url = make_url(postgres_url)
    no_password_env.setenv("AGENTQ_DATABASE_PASSWORD", url.password or "")
    bare = url.set(password=None).render_as_string(hide_password=False)
    service = open_queue(bare, PROFILES["test"])
    try:
        service.add_agent("echo", "echo")
        assert service.enqueue("echo").id == 1
    finally:
        service.close()
    assert (url.password or "") not in debug_logs.text
