"""Fixtures for the window tests: a real database, a real worker pool, the real MainWindow."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from desktop.bootstrap import open_queue
from desktop.config import Settings
from desktop.queue import TaskQueueService
from desktop.ui.close_flow import CloseChoice
from desktop.ui.main_window import MainWindow
from desktop.workers.pool import WorkerPool

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # ui_targets: functions for `python` agents
    sys.path.insert(0, str(HERE))

from review_helpers import git_identity, repo  # noqa: E402  (fixtures: a real repository, git's own config)

__all__ = ["git_identity", "repo"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The offscreen platform cannot apply window size hints and warns on every top-level window."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)"))


@pytest.fixture
def ui_settings() -> Settings:
    return Settings(
        profile="test", concurrency=2, timeout_s=20.0, max_retries=0, retry_base_s=0.0, retry_cap_s=0.0,
        poll_interval_s=0.05, lease_s=30.0, shutdown_grace_s=1.0,
    )


@pytest.fixture
def queue(db_url: str, ui_settings: Settings) -> Iterator[TaskQueueService]:
    service = open_queue(db_url, ui_settings)
    yield service
    service.close()


WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot, queue: TaskQueueService, ui_settings: Settings, tmp_path: Path) -> Iterator[WindowFactory]:
    """Build, start and show the real window with a real pool; stops everything afterwards."""
    made: list[MainWindow] = []

    def make(*, start_pool: bool = True) -> MainWindow:
        pool = WorkerPool(queue, ui_settings, output_dir=tmp_path / "task-logs")
        store = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
        window = MainWindow(queue, pool, ui_settings, store=store, settings_path=tmp_path / "settings.json")
        window.ask_close = lambda *_args: CloseChoice.STOP
        made.append(window)
        if start_pool:
            pool.start()
        window.start()
        window.show()
        qtbot.waitExposed(window)
        return window

    yield make
    for window in made:
        window.pool.stop(grace_s=0)
        window.close()
        window.jobs.close()
