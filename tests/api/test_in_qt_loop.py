"""The API inside a Qt application's qasync event loop, as the window runs it: real requests, and
the Qt event loop keeps turning while a request waits on the database."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.api.credentials import TokenStore
from desktop.api.server import start_api
from desktop.queue import TaskQueueService
from tests.api.conftest import SETTINGS


@pytest.fixture
def qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the QApplication, as the window has; its Qt objects are freed here, in the
    GUI thread, not by a later garbage collection in whatever thread runs it (a Qt warning, or worse)."""
    assert isinstance(qapp, QApplication)
    loop = qasync.QEventLoop(qapp)
    yield loop
    loop.close()
    del loop
    gc.collect()


def test_the_api_serves_from_a_qasync_loop_on_a_qapplication(
    qt_loop: qasync.QEventLoop, queue: TaskQueueService, db_path: Path
) -> None:
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    token = TokenStore().current()
    results: dict[str, Any] = {}

    def requests(url: str, blocker: sqlite3.Connection) -> None:
        """From another thread, like any HTTP client: the loop must answer while this runs."""
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            results["health"] = client.get("/health").json()["status"]
            results["created"] = client.post("/tasks", json={"agent": "echo"}).status_code
            results["listed"] = [t["agent"] for t in client.get("/tasks").json()]
            before = len(ticks)
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            slow = threading.Thread(target=lambda: results.update(slow=client.post("/tasks", json={"agent": "echo"})))
            slow.start()
            deadline = time.monotonic() + 10
            while len(ticks) < before + 20 and time.monotonic() < deadline:
                time.sleep(0.01)  # Qt timers fire while the enqueue waits
            results["ticks_while_waiting"] = len(ticks) - before
            results["waiting"] = slow.is_alive()
            blocker.execute("COMMIT")
            slow.join(30)

    async def scenario() -> None:
        running = await start_api(queue, SETTINGS, host="127.0.0.1", port=0)
        blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        try:
            await asyncio.get_running_loop().run_in_executor(None, requests, running.url, blocker)
        finally:
            blocker.close()
            await running.stop()
        assert running.task.done()

    qt_loop.run_until_complete(asyncio.wait_for(scenario(), 60))
    timer.stop()
    assert results["health"] == "healthy" and results["created"] == 201 and results["listed"] == ["echo"]
    assert results["waiting"] is True and results["ticks_while_waiting"] >= 20
    assert results["slow"].status_code == 201
    assert queue.count_tasks() == 2
