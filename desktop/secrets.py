"""Secrets kept out of the database: an agent's config holds references, the values live elsewhere.

A config value may be a reference instead of the secret itself:

- ``"$secret:NAME"``: kept in the system keyring (service "agent-queue secrets") where there is a
  usable one, else in ``secrets.json`` in the config folder (0600). `extract` makes these when an
  agent is added or updated, so the agents table never holds the value.
- ``"$env:NAME"``: the environment variable NAME of the worker that runs the task, read at run
  time and never stored anywhere. Useful on headless machines and in containers.

The http kind's secrets are its header values (except a few that never carry one, such as
Content-Type, and values built from ``{placeholders}``, which are templates) and the password of
a URL such as ``https://user:password@host/``, which moves to the ``url_password`` setting.
AGENTQ_SECRET_STORE=file (or =keyring) chooses the store instead of detecting a keyring. Messages
name references, never values.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from desktop import paths
from desktop.errors import AgentQueueError, TaskValidationError
from desktop.private_files import private_dir, private_file, write_private_text

try:
    import fcntl
except ImportError:  # Windows: writes are atomic, but not serialised between processes
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SECRET_PREFIX = "$secret:"
ENV_PREFIX = "$env:"
KEYRING_SERVICE = "agent-queue secrets"
STORE_ENV = "AGENTQ_SECRET_STORE"
FILE_NAME = "secrets.json"
_SECRET_NAME = re.compile(r"[!-~]+")  # printable ASCII, no spaces
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PUBLIC_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "cache-control", "content-type", "user-agent"}
)  # never carry a secret: they stay in the config as written
_URL_PASSWORD = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#@:]*):(?P<password>[^/?#@]*)@")


class SecretError(AgentQueueError):
    """A reference that cannot be resolved; the message names the reference, never a value."""


class SecretStore(Protocol):
    """Where `$secret:` values live."""

    name: str

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


class FileStore:
    """Secrets in one JSON file, 0600 in a 0700 folder, replaced atomically under a lock."""

    name = "file"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.config_dir() / FILE_NAME

    def get(self, name: str) -> str | None:
        value = self._read().get(name)
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        with self._locked():
            values = self._read()
            values[name] = value
            write_private_text(self.path, json.dumps(values, indent=2, sort_keys=True))

    def delete(self, name: str) -> None:
        with self._locked():
            values = self._read()
            if values.pop(name, None) is not None:
                write_private_text(self.path, json.dumps(values, indent=2, sort_keys=True))

    def _read(self) -> dict[str, Any]:
        try:
            values = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretError(f"the secrets file {self.path} cannot be read ({type(exc).__name__})") from None
        if not isinstance(values, dict):
            raise SecretError(f"the secrets file {self.path} must hold a JSON object")
        return values

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes: read, change and replace the file under a lock."""
        private_dir(self.path.parent)
        with private_file(self.path.with_name(self.path.name + ".lock")).open("a") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield


class KeyringStore:
    """Secrets in the system keyring (the `keyring` package), service KEYRING_SERVICE."""

    name = "keyring"

    def __init__(self, module: ModuleType) -> None:
        self._keyring = module

    def get(self, name: str) -> str | None:
        value = self._call("read", self._keyring.get_password, name)
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        self._call("write", self._keyring.set_password, name, value)

    def delete(self, name: str) -> None:
        if self.get(name) is not None:
            self._call("delete", self._keyring.delete_password, name)

    def _call(self, what: str, method: Any, *args: str) -> Any:
        try:
            return method(KEYRING_SERVICE, *args)
        except Exception as exc:  # noqa: BLE001 - keyring backends raise their own kinds
            problem = f"the system keyring could not {what} {SECRET_PREFIX}{args[0]} ({type(exc).__name__})"
            raise SecretError(problem) from None


def stores() -> list[SecretStore]:
    """The stores to look references up in, the one new secrets go to first."""
    chosen = os.environ.get(STORE_ENV, "").strip().lower()
    if chosen not in ("", "file", "keyring"):
        raise SecretError(f"{STORE_ENV} must be 'file' or 'keyring' (got {chosen!r})")
    module = None if chosen == "file" else _usable_keyring()
    if chosen == "keyring" and module is None:
        raise SecretError(f"{STORE_ENV}=keyring, but there is no usable system keyring here")
    found: list[SecretStore] = [KeyringStore(module)] if module is not None else []
    if chosen != "keyring":
        found.append(FileStore())
    return found


@functools.lru_cache(maxsize=1)
def _usable_keyring() -> ModuleType | None:
    """The keyring module when it has a real backend (not keyring's "fail" placeholder)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - a broken backend configuration
        log.info("no system keyring (%s); secrets go to the secrets file", type(exc).__name__)
        return None
    return None if isinstance(backend, fail.Keyring) else keyring


# -- references ----------------------------------------------------------------------------------


def reference(name: str) -> str:
    return SECRET_PREFIX + name


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith((SECRET_PREFIX, ENV_PREFIX))


def check_reference(value: Any, field: str) -> None:
    """Raise TaskValidationError naming `field` for a malformed ``$secret:``/``$env:`` reference."""
    if not isinstance(value, str):
        return
    if value.startswith(SECRET_PREFIX) and not _SECRET_NAME.fullmatch(value[len(SECRET_PREFIX):]):
        raise TaskValidationError(field, f"{SECRET_PREFIX} must be followed by a secret's name (no spaces)")
    if value.startswith(ENV_PREFIX) and not _ENV_NAME.fullmatch(value[len(ENV_PREFIX):]):
        raise TaskValidationError(field, f"{ENV_PREFIX} must be followed by an environment variable's name")


def resolve(config: Any, field: str = "config") -> Any:
    """A copy of `config` with every reference (a string that is exactly one) replaced by its value.

    Raises SecretError naming the field and the reference when one cannot be resolved.
    """
    if isinstance(config, dict):
        return {key: resolve(value, f"{field}.{key}") for key, value in config.items()}
    if isinstance(config, list):
        return [resolve(value, f"{field}[{i}]") for i, value in enumerate(config)]
    if not is_reference(config):
        return config
    if config.startswith(ENV_PREFIX):
        variable = config[len(ENV_PREFIX):]
        value = os.environ.get(variable)
        if value is None:
            raise SecretError(f"{field}: the environment variable {variable} is not set (for {config})")
        return value
    name = config[len(SECRET_PREFIX):]
    problems: list[str] = []
    for store in stores():
        try:
            value = store.get(name)
        except SecretError as exc:
            problems.append(str(exc))
            continue
        if value is not None:
            return value
    where = "; ".join(problems) or "it is in neither the system keyring nor the secrets file"
    raise SecretError(f"{field}: no secret {config} ({where}); set the agent's value again")


# -- moving secrets out of configs ---------------------------------------------------------------


def extract(agent: str, kind: str, config: Any) -> tuple[Any, dict[str, str]]:
    """`config` with each secret replaced by a ``$secret:agent/AGENT/...`` reference, and the
    secrets to store under those names (`save`). Configs of kinds without secrets come back as
    they are, as do values that are already references or templates."""
    if kind != "http" or not isinstance(config, dict):
        return config, {}
    found: dict[str, str] = {}
    config = copy.deepcopy(config)
    url, password = split_url_password(config.get("url"))
    if password is not None and "{" not in password and "url_password" not in config:
        config["url"], config["url_password"] = url, urllib.parse.unquote(password)
    password = config.get("url_password")
    if isinstance(password, str) and password and not is_reference(password):
        found[f"agent/{agent}/url_password"] = password
        config["url_password"] = reference(f"agent/{agent}/url_password")
    headers = config.get("headers")
    if isinstance(headers, dict):
        for header, value in headers.items():
            if not isinstance(value, str) or not value or is_reference(value) or "{" in value:
                continue
            if header.lower() in _PUBLIC_HEADERS:
                continue
            found[f"agent/{agent}/headers.{header}"] = value
            headers[header] = reference(f"agent/{agent}/headers.{header}")
    return config, found


def split_url_password(url: Any) -> tuple[Any, str | None]:
    """(the URL without its password, the password as written in it), or (url, None)."""
    match = _URL_PASSWORD.match(url) if isinstance(url, str) else None
    if match is None:
        return url, None
    return f"{match['scheme']}{match['user']}@{url[match.end():]}", match["password"]


def save(secrets: dict[str, str], store: SecretStore | None = None) -> None:
    """Store secrets from `extract` (in the first of `stores()` unless told where)."""
    if not secrets:
        return  # no keyring to look for
    target = store or stores()[0]
    for name, value in secrets.items():
        target.set(name, value)


class Keeper:
    """The queue's SecretKeeper (desktop.queue.agents): secrets go to the first of `stores()`."""

    def keep(self, agent: str, kind: str, config: dict[str, Any]) -> dict[str, Any]:
        """`config` with its secrets stored and replaced by references (before it is written)."""
        moved, found = extract(agent, kind, config)
        save(found)
        return moved  # type: ignore[no-any-return]

    def forget(self, agent: str, config: dict[str, Any], in_use: Iterable[dict[str, Any]]) -> None:
        """Delete the secrets stored for `agent` (``agent/NAME/...``) that `config` refers to and no
        config of `in_use` does; a reference to a secret someone stored by hand is left alone."""
        used = {name for other in in_use for name in _secret_names(other)}
        names = {n for n in _secret_names(config) if n.startswith(f"agent/{agent}/")} - used
        if not names:
            return  # no keyring to look for
        try:
            found = stores()
        except SecretError as exc:
            log.warning("the secrets of agent %s stay stored: %s", agent, exc)
            return
        for name in sorted(names):
            for store in found:
                try:
                    store.delete(name)
                except SecretError as exc:
                    log.warning("%s stays stored: %s", reference(name), exc)


KEEPER = Keeper()


def move_plain_secrets(agent: str, kind: str, config: Any, store: SecretStore | None = None) -> Any | None:
    """For an agent stored before secrets moved out: store the secrets its config holds in plain
    text and return the config with references (to write back), or None when there are none."""
    moved, secrets = extract(agent, kind, config)
    if not secrets:
        return None
    save(secrets, store)
    return moved


def _secret_names(config: Any) -> Iterator[str]:
    if isinstance(config, dict):
        for value in config.values():
            yield from _secret_names(value)
    elif isinstance(config, list):
        for value in config:
            yield from _secret_names(value)
    elif isinstance(config, str) and config.startswith(SECRET_PREFIX):
        yield config[len(SECRET_PREFIX):]
