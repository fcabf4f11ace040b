"""Where database passwords go: the keyring when there is one, never the settings file."""

from __future__ import annotations

import sys
import types

import pytest

from desktop.bootstrap import remember_password
from desktop.errors import TaskValidationError


class _MemoryKeyring(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("keyring")
        self.saved: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, user: str, password: str) -> None:
        self.saved[(service, user)] = password


def test_a_password_moves_to_the_keyring_and_out_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = _MemoryKeyring()
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    stored = remember_password("postgresql://agentq:s3cret@db.lan:5432/queue")
    assert "s3cret" not in stored and stored.startswith("postgresql+psycopg://agentq@db.lan:5432/queue")
    assert keyring.saved == {("agent-queue", "agentq"): "s3cret"}


def test_without_a_keyring_a_password_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring fails
    with pytest.raises(TaskValidationError) as error:
        remember_password("postgresql://agentq:s3cret@db.lan/queue")
    assert error.value.field == "database_url" and "AGENTQ_DATABASE_PASSWORD" in error.value.rule
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize("url", ["sqlite:////tmp/queue.db", "postgresql://agentq@db.lan/queue"])
def test_urls_without_a_password_are_kept(url: str) -> None:
    assert remember_password(url).split("://")[1] == url.split("://")[1]


def test_other_databases_are_refused() -> None:
    with pytest.raises(TaskValidationError, match="sqlite:/// or postgresql://"):
        remember_password("mysql://root@localhost/queue")
