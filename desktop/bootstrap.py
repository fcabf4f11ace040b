"""Opening the queue the same way from the window, the CLI and the worker."""

from __future__ import annotations

import os

from desktop import paths
from desktop.agents.registry import validate_agent
from desktop.config import Settings, load_settings
from desktop.queue import TaskQueueService


def database_url(explicit: str | None = None, settings: Settings | None = None) -> str:
    """--db, else AGENTQ_DATABASE_URL, else the settings file, else the user data folder."""
    if explicit:
        return explicit
    if os.environ.get("AGENTQ_DATABASE_URL"):
        return os.environ["AGENTQ_DATABASE_URL"]
    settings = settings or load_settings()
    return settings.database_url or paths.default_database_url()


def open_queue(url: str | None = None, settings: Settings | None = None) -> TaskQueueService:
    """Open (creating or migrating) the queue with the settings' retry policy and agent checks."""
    settings = settings or load_settings()
    return TaskQueueService.open(
        database_url(url, settings), retry_policy=settings.retry_policy(), validate_agent=validate_agent
    )
