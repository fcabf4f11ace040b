"""PostgreSQL-only tests: multiple processes and hosts, LISTEN/NOTIFY, passwords, migrations.

They use tests/conftest.py's `postgres_url` (a fresh database per test) and are skipped, with a
message saying how to enable them, where no PostgreSQL server is available.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.postgresql)
