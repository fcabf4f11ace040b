"""Fixtures for the agent kind tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # agent_helpers and pykind_targets live next to the tests
    sys.path.insert(0, str(HERE))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "task.log"


@pytest.fixture(autouse=True)
def _fresh_kind_cache() -> Iterator[None]:
    """Tests that install plugins must not leave them in the registry's cache."""
    yield
    from desktop.agents import registry

    registry._kinds = None
