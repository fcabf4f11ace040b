"""Completion webhooks: delivered through the queue as http tasks, to a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.queue import TaskQueueService, TaskStatus
from desktop.queue.service import NOTIFY_AGENT
from desktop.workers.pool import WorkerPool


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/done", received
    server.shutdown()


def test_webhooks_tell_of_completed_and_failed_tasks(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool],
    hook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = hook
    queue.add_agent("echo", "echo", notify_url=url)
    queue.add_agent("broken", "fail")
    ok = queue.enqueue("echo", {"answer": 42})
    bad = queue.enqueue("broken", max_retries=0, notify_url=url)
    quiet = queue.enqueue("broken", max_retries=0)
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: len(received) == 2, timeout=10_000)
    by_task = {body["task_id"]: body for body in received}
    assert by_task[ok.id]["status"] == "completed" and by_task[ok.id]["result"] == {"answer": 42}
    assert by_task[bad.id]["status"] == "failed" and "failed on purpose" in by_task[bad.id]["error"]
    assert by_task[bad.id]["attempts"] == 1 and by_task[bad.id]["agent"] == "broken"
    assert quiet.id not in by_task
    deliveries = queue.list_tasks(agent=NOTIFY_AGENT)
    qtbot.waitUntil(lambda: all(t.status is TaskStatus.COMPLETED for t in queue.list_tasks(agent=NOTIFY_AGENT)))
    assert len(deliveries) == 2


def test_a_webhook_that_is_down_is_retried_by_the_queue(
    qtbot: QtBot, queue: TaskQueueService, make_pool: Callable[..., WorkerPool]
) -> None:
    queue.add_agent("echo", "echo", notify_url="http://127.0.0.1:9/nobody-listens")
    queue.enqueue("echo", {"n": 1})
    pool = make_pool()
    pool.start()
    qtbot.waitUntil(lambda: len(queue.list_tasks(agent=NOTIFY_AGENT)) == 1, timeout=5_000)
    qtbot.waitUntil(lambda: queue.list_tasks(agent=NOTIFY_AGENT)[0].status is TaskStatus.RETRYING, timeout=10_000)
    [delivery] = queue.list_tasks(agent=NOTIFY_AGENT)
    assert "127.0.0.1:9" in (delivery.last_error or "")
    assert delivery.max_retries == 8  # deliveries keep trying for a while
