"""Opening the queue the same way from the window, the CLI and the worker."""

from __future__ import annotations

import logging
import os

from sqlalchemy.engine import URL

from desktop import paths
from desktop.config import Settings, load_settings
from desktop.errors import TaskValidationError
from desktop.queue import TaskQueueService
from desktop.queue.db import queue_url

log = logging.getLogger(__name__)

KEYRING_SERVICE = "agent-queue"
PASSWORD_ENV = "AGENTQ_DATABASE_PASSWORD"


def database_url(explicit: str | None = None, settings: Settings | None = None) -> str:
    """--db, else AGENTQ_DATABASE_URL, else the settings file, else the user data folder."""
    if explicit:
        return explicit
    if os.environ.get("AGENTQ_DATABASE_URL"):
        return os.environ["AGENTQ_DATABASE_URL"]
    settings = settings or load_settings()
    return settings.database_url or paths.default_database_url()


def with_password(url: str | URL) -> URL:
    """A PostgreSQL URL without a password gets one from AGENTQ_DATABASE_PASSWORD, else (unless
    PGPASSWORD is set: libpq reads that, and ~/.pgpass, itself) from the system keyring, entry
    "agent-queue" / the URL's user, when the optional `keyring` package is installed.

    So the settings file and the logs need never hold the password. The URL comes back as an
    object, never rendered to text with the password in it.
    """
    url = queue_url(url)
    if url.get_backend_name() != "postgresql" or url.password is not None:
        return url
    password = os.environ.get(PASSWORD_ENV) or None
    if password is None and not os.environ.get("PGPASSWORD") and url.username:
        password = _keyring_password(url.username)
    return url if password is None else url.set(password=password)


def _keyring_password(username: str) -> str | None:
    try:
        import keyring
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, username)
    except Exception as exc:  # noqa: BLE001 - no keyring backend (e.g. a headless machine)
        log.info("no password from the system keyring (%s)", type(exc).__name__)
        return None


def remember_password(url: str) -> str:
    """The URL to store in the settings file: a PostgreSQL password moves to the system keyring.

    Raises TaskValidationError('database_url', ...) when the URL has a password and there is no
    keyring to keep it in: the password must then come from AGENTQ_DATABASE_PASSWORD instead.
    """
    try:
        parsed = queue_url(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's parse errors vary
        raise TaskValidationError("database_url", "is not a database URL such as postgresql://user@host/db") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise TaskValidationError("database_url", "must be a sqlite:/// or postgresql:// URL")
    if parsed.password is None:
        return parsed.render_as_string(hide_password=False)
    if not parsed.username:
        raise TaskValidationError("database_url", "a password needs a user name in the URL")
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, parsed.username, str(parsed.password))
    except Exception as exc:  # noqa: BLE001 - no keyring package or no backend
        raise TaskValidationError(
            "database_url",
            f"there is no system keyring to keep the password in; leave it out of the URL and set {PASSWORD_ENV}",
        ) from exc
    return parsed._replace(password=None).render_as_string(hide_password=False)  # set() keeps it


def open_queue(url: str | None = None, settings: Settings | None = None) -> TaskQueueService:
    """Open (creating or migrating) the queue with the settings' retry policy and agent checks."""
    settings = settings or load_settings()
    return TaskQueueService.open(with_password(database_url(url, settings)), retry_policy=settings.retry_policy())
