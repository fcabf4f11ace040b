"""Opening the queue the same way from the window, the CLI and the worker."""

from __future__ import annotations

import logging
import os

from sqlalchemy.engine import URL

from desktop import paths
from desktop.agents.registry import validate_agent
from desktop.config import Settings, load_settings
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


def open_queue(url: str | None = None, settings: Settings | None = None) -> TaskQueueService:
    """Open (creating or migrating) the queue with the settings' retry policy and agent checks."""
    settings = settings or load_settings()
    return TaskQueueService.open(
        with_password(database_url(url, settings)),
        retry_policy=settings.retry_policy(),
        validate_agent=validate_agent,
    )
