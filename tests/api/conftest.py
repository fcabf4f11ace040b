"""A real API server on 127.0.0.1 (a free port), run on an asyncio loop in a thread, over a real SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from desktop.api.credentials import TokenStore
from desktop.api.server import RunningApi, start_api
from desktop.bootstrap import open_queue
from desktop.config import PROFILES, Settings
from desktop.queue import TaskQueueService

SETTINGS = dataclasses.replace(PROFILES["test"], retry_base_s=0.0, poll_interval_s=0.05, lease_s=5.0)


class ApiThread:
    """`start_api` on an event loop of its own thread, as the window runs it on its loop."""

    def __init__(self, service: TaskQueueService, **options: Any) -> None:
        self.service = service
        self.options = options
        self.running: RunningApi | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="api-test-server")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.running = await start_api(self.service, SETTINGS, host="127.0.0.1", port=0, **self.options)
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._ready.set()
        await self._stop.wait()
        await self.running.stop()

    def start(self) -> str:
        self._thread.start()
        assert self._ready.wait(30), "the API server did not start"
        if self._error is not None:
            raise self._error
        assert self.running is not None
        return self.running.url

    def stop(self) -> None:
        if self.running is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the API server did not stop"


@dataclasses.dataclass
class Api:
    url: str
    token: str
    service: TaskQueueService
    client: httpx.Client  # sends the token
    anonymous: httpx.Client  # sends none
    running: RunningApi

    def requests_in_progress(self) -> int:
        return len(self.running.server.server_state.tasks)


@pytest.fixture
def settings() -> Settings:
    return SETTINGS


@pytest.fixture
def queue(db_url: str) -> Iterator[TaskQueueService]:
    service = open_queue(db_url, SETTINGS)
    service.add_agent("echo", "echo")
    yield service
    service.close()


@pytest.fixture
def start_server(queue: TaskQueueService) -> Iterator[Callable[..., Api]]:
    servers: list[ApiThread] = []
    clients: list[httpx.Client] = []

    def start(**options: Any) -> Api:
        server = ApiThread(queue, **options)
        servers.append(server)
        url = server.start()
        token = TokenStore().current()
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        anonymous = httpx.Client(base_url=url, timeout=30)
        clients.extend((client, anonymous))
        assert server.running is not None
        return Api(url, token, queue, client, anonymous, server.running)

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def api(start_server: Callable[..., Api]) -> Api:
    return start_server()
