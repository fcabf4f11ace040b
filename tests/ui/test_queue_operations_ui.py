"""The queue operations in the window: the row menu's run now, priority, move, backlog and
release; the Workers tab; the HTTP API setting serving from the window's qasync loop."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import qasync
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from desktop.api.credentials import TokenStore
from desktop.queue import Beat, TaskQueueService, TaskStatus


def _actions(window, tasks) -> dict:
    menu = type(window.task_actions).menu(window.task_actions, tasks, window.open_details, window)
    found = {a.text().replace("&", ""): a for a in menu.actions() if a.text()}
    priority = found["Priority"].menu()
    found.update({f"Priority {a.text().split()[0]}": a for a in priority.actions()})
    return found


def test_the_row_menu_runs_now_reprioritises_moves_backlogs_and_releases(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.add_agent("later", "echo")
    queue.pause("later")  # nothing runs: the order is what the test looks at
    window = make_window()
    a, b, c = (queue.enqueue("later", {"n": n}) for n in range(3))

    _actions(window, [queue.get(c.id)])["Run now"].trigger()
    qtbot.waitUntil(lambda: queue.get(c.id).priority == 5)
    _actions(window, [queue.get(b.id)])["Move to top"].trigger()
    qtbot.waitUntil(lambda: queue.get(b.id).sort_order < 0)
    _actions(window, [queue.get(a.id)])["Priority 4"].trigger()
    qtbot.waitUntil(lambda: queue.get(a.id).priority == 4)
    assert [t.id for t in queue.peek(3)] == [c.id, a.id, b.id]

    actions = _actions(window, [queue.get(a.id)])
    assert not actions["Release from backlog"].isEnabled()
    actions["Backlog"].trigger()
    qtbot.waitUntil(lambda: queue.get(a.id).status is TaskStatus.BACKLOGGED)
    actions = _actions(window, [queue.get(a.id)])
    assert actions["Release from backlog"].isEnabled() and not actions["Backlog"].isEnabled()
    actions["Release from backlog"].trigger()
    qtbot.waitUntil(lambda: queue.get(a.id).status is TaskStatus.PENDING)

    finished = queue.cancel(b.id)
    actions = _actions(window, [finished])
    assert not any(actions[name].isEnabled() for name in ("Run now", "Move to top", "Move to bottom", "Backlog"))
    assert not actions["Priority"].isEnabled()


def test_the_workers_tab_lists_this_windows_pool_and_other_workers(make_window, queue: TaskQueueService, qtbot) -> None:
    queue.worker_beat(Beat("far-away:1", "far-away", 1, 8, lease_s=30.0, completed=12))
    window = make_window()
    window.tabs.setCurrentWidget(window.workers)
    qtbot.waitUntil(lambda: len(window.workers.workers) == 2, timeout=10_000)
    table = window.workers.table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}
    mine = rows[window.pool.worker_id]
    assert mine[1] == "live" and mine[5] == str(window.pool.settings.concurrency)
    assert rows["far-away:1"][1:3] == ["live", "far-away"] and rows["far-away:1"][7] == "12"
    far = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "far-away:1")
    assert table.item(far, 0).toolTip().endswith("process 1 on far-away")  # the process id: in the tooltip
    qtbot.waitUntil(lambda: window.tabs.tabText(window.tabs.indexOf(window.workers)) == "Workers (2 live)")


@pytest.fixture
def qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """A qasync loop on the QApplication, as run_app has (freed here, in the GUI thread)."""
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()
    del loop
    gc.collect()


def test_the_http_api_setting_serves_the_api_from_the_window_and_stops_it(
    make_window, qt_loop: qasync.QEventLoop, qtbot, tmp_path: Path
) -> None:
    window = make_window()
    messages: list[str] = []
    window.http_api.changed.connect(messages.append)

    async def wait_for(condition, timeout_s: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.02)

    def get(url: str, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(url + path, headers=headers, timeout=10)

    async def scenario() -> None:
        dialog = window.open_settings()
        assert "agentq token" in dialog.api_hint.text() and "http://127.0.0.1:8765" in dialog.api_hint.text()
        dialog.api_enabled.setChecked(True)
        dialog.api_port.setValue(free_port())
        assert f"Listens on http://127.0.0.1:{dialog.api_port.value()}" in dialog.api_hint.text()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        await wait_for(lambda: window.http_api.url is not None)
        url = window.http_api.url
        loop = asyncio.get_running_loop()
        health = await loop.run_in_executor(None, get, url, "/health")
        assert health.status_code == 200 and health.json()["workers"][0]["id"] == window.pool.worker_id
        refused = await loop.run_in_executor(None, get, url, "/tasks")
        assert refused.status_code == 401
        listed = await loop.run_in_executor(None, get, url, "/tasks", TokenStore().current())
        assert listed.status_code == 200
        assert messages[-1].startswith(f"HTTP API on {url} (") and "agentq token" in messages[-1]

        window.apply_settings(dataclasses.replace(window.settings, api_enabled=False))
        await wait_for(lambda: window.http_api.url is None and messages[-1] == "HTTP API stopped.")
        with pytest.raises(httpx.ConnectError):
            await loop.run_in_executor(None, get, url, "/health")

    qt_loop.run_until_complete(scenario())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
