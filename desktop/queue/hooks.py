"""Inbound webhooks: named templates that turn a request's JSON body into a task. No Qt.

A hook names an agent, a priority, payload constants and payload fields taken from the body by
dotted paths (``{"prompt": "issue.title", "repo": "repository.clone_url"}``; a number indexes a
list: ``commits.0.id``), and optionally the path of a repository to lock on, so tasks of one
repository run one at a time. Where its signing secret lives is stored ("env:VAR", or "file" for
one kept in a private file by the API), never the secret itself.

Every function takes an Engine (each call is its own transaction) or a Connection (the caller's).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from desktop.errors import NotFoundError, TaskValidationError
from desktop.queue import validation as check
from desktop.queue.db import WRITE, display_url, storage_error
from desktop.queue.lock_keys import repo_lock_key
from desktop.queue.models import HookRow
from desktop.queue.tables import G

H = cast(Table, HookRow.__table__)
MAX_FIELDS = 50
MAX_CONSTANTS_BYTES = 64 * 1024
SECRET_FILE = "file"  # secret_source of a secret generated for the hook and kept by the API
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*\Z")


@dataclass(frozen=True, slots=True)
class Hook:
    """A webhook definition: what task a request to /hooks/NAME becomes."""

    id: int
    name: str
    agent: str
    priority: int
    fields: dict[str, str]
    payload: dict[str, Any]
    repo_path: str | None
    secret_source: str | None
    created_at: datetime

    @property
    def secret_env(self) -> str | None:
        """The environment variable holding the secret, for a hook whose source is "env:VAR"."""
        if self.secret_source and self.secret_source.startswith("env:"):
            return self.secret_source.removeprefix("env:")
        return None


def add_hook(
    bind: Engine | Connection,
    name: str,
    agent: str,
    *,
    priority: int = 3,
    fields: Mapping[str, str] | None = None,
    payload: Mapping[str, Any] | None = None,
    repo_path: str | None = None,
    secret_source: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Hook:
    """Define a hook; raises TaskValidationError naming the field for bad input (nothing is written)."""
    values = {
        "name": check.agent_name(name),
        "agent": agent,
        "priority": check.priority_value("priority", priority),
        "fields": json.dumps(_fields(fields or {}), sort_keys=True),
        "payload": _constants(payload if payload is not None else {}, fields or {}),
        "repo_path": None if repo_path is None else _path("repo_path", repo_path),
        "secret_source": _secret_source(secret_source),
        "created_at": clock(),
    }
    with _begin(bind, write=True) as conn:
        if conn.execute(select(G.c.id).where(G.c.name == agent)).first() is None:
            raise TaskValidationError("agent", f"there is no agent named {agent!r}")
        try:
            with conn.begin_nested():
                row = conn.execute(insert(H).values(values).returning(*H.c)).one()
        except IntegrityError as exc:
            raise TaskValidationError("name", f"a hook named {name!r} already exists") from exc
    return _hook(row._mapping)


def get_hook(bind: Engine | Connection, name: str) -> Hook:
    with _begin(bind) as conn:
        row = conn.execute(select(H).where(H.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"hook: there is no hook named {name!r}")
    return _hook(row._mapping)


def list_hooks(bind: Engine | Connection) -> list[Hook]:
    with _begin(bind) as conn:
        return [_hook(r._mapping) for r in conn.execute(select(H).order_by(H.c.name))]


def remove_hook(bind: Engine | Connection, name: str) -> None:
    with _begin(bind, write=True) as conn:
        if not conn.execute(delete(H).where(H.c.name == name)).rowcount:
            raise NotFoundError(f"hook: there is no hook named {name!r}")


def task_payload(hook: Hook, body: Any) -> dict[str, Any]:
    """The payload of the task a request with JSON `body` becomes: the constants, then each field.

    Raises TaskValidationError naming the dotted path when the body has nothing there.
    """
    payload = dict(hook.payload)
    for key, path in hook.fields.items():
        payload[key] = _lookup(body, path)
    return payload


def task_lock_key(hook: Hook, body: Any) -> str | None:
    """The lock key of the repository the body names at the hook's `repo_path`, if it has one."""
    if hook.repo_path is None:
        return None
    value = _lookup(body, hook.repo_path)
    if not isinstance(value, str):
        raise TaskValidationError(hook.repo_path, "must be a repository URL or path (a string)")
    return repo_lock_key(value)


def _lookup(body: Any, path: str) -> Any:
    value = body
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TaskValidationError(path, "is not in the request body")
    return value


def _fields(fields: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(fields, Mapping):
        raise TaskValidationError("fields", "must map payload keys to dotted paths into the body")
    if len(fields) > MAX_FIELDS:
        raise TaskValidationError("fields", f"at most {MAX_FIELDS} fields")
    for key, path in fields.items():
        if not isinstance(key, str) or not key.strip() or len(key) > check.MAX_LABEL_LENGTH:
            raise TaskValidationError("fields", f"payload key {key!r} must be a name of 1-100 characters")
        _path(f"fields.{key}", path)
    return dict(fields)


def _path(field: str, path: Any) -> str:
    if not isinstance(path, str) or not _PATH.match(path) or len(path) > check.MAX_KEY_LENGTH:
        raise TaskValidationError(field, f"must be a dotted path into the body such as issue.title (got {path!r})")
    return path


def _constants(payload: Any, fields: Mapping[str, str]) -> str:
    if not isinstance(payload, Mapping):
        raise TaskValidationError("payload", "must be a JSON object of constants")
    both = sorted(set(payload) & set(fields))
    if both:
        raise TaskValidationError("payload", f"key {both[0]!r} is also a field; give it one way only")
    return check.json_text("payload", dict(payload), MAX_CONSTANTS_BYTES)


def _secret_source(source: str | None) -> str | None:
    if source is None or source == SECRET_FILE:
        return source
    if isinstance(source, str) and source.startswith("env:") and _ENV_NAME.match(source[4:]):
        return source
    raise TaskValidationError("secret", "must come from an environment variable (a name such as GITHUB_HOOK_SECRET)")


def _hook(row: Mapping[Any, Any]) -> Hook:
    return Hook(
        id=row["id"],
        name=row["name"],
        agent=row["agent"],
        priority=row["priority"],
        fields=json.loads(row["fields"]),
        payload=json.loads(row["payload"]),
        repo_path=row["repo_path"],
        secret_source=row["secret_source"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )


@contextmanager
def _begin(bind: Engine | Connection, *, write: bool = False) -> Iterator[Connection]:
    """The caller's connection as it is, or a transaction of its own (BEGIN IMMEDIATE for writes)."""
    if isinstance(bind, Connection):
        yield bind
        return
    engine = bind.execution_options(**{WRITE: True}) if write else bind
    try:
        with engine.begin() as conn:
            yield conn
    except OperationalError as exc:
        error = storage_error(exc, display_url(bind.url))
        if error is None:
            raise
        raise error from exc
