"""The engine's tests run twice: on a SQLite file and on a PostgreSQL database (tests/conftest.py).

Tests about SQLite files themselves (test_database_file.py, test_migrations.py) use `db_path`.
"""

from __future__ import annotations

import pytest

from desktop.queue import TaskQueueService


@pytest.fixture
def db_url(queue_url: str) -> str:
    return queue_url


@pytest.fixture
def queue(service: TaskQueueService) -> TaskQueueService:
    """The service with the agent "echo", room for ten running tasks (a module may define its own)."""
    service.add_agent("echo", "echo", concurrency=10)
    return service
