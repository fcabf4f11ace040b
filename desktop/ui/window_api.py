"""The HTTP API inside the window: `start_api` as a task on the window's qasync loop, started,
moved to another port or stopped when the settings say so. The window stays responsive: requests
are served between Qt events, their database work on threads."""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import QObject, Signal

from desktop.api.binding import DEFAULT_HOST
from desktop.api.server import RunningApi, start_api
from desktop.config import Settings
from desktop.errors import AgentQueueError
from desktop.queue import TaskQueueService
from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)
TOKEN_HINT = "every endpoint but /health needs the token `agentq token` prints"


class WindowApi(QObject):
    """Signals:
        changed(str): one line for the status bar: where the API listens, that it stopped, or why
            it could not start.
    """

    changed = Signal(str)

    def __init__(self, service: TaskQueueService, pool: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.pool = pool
        self.running: RunningApi | None = None
        self._port: int | None = None
        self._turn = asyncio.Lock()

    @property
    def url(self) -> str | None:
        return None if self.running is None else self.running.url

    def apply(self, settings: Settings) -> asyncio.Task[None]:
        """Start, move or stop the server as `settings` ask, on the running loop."""
        return asyncio.ensure_future(self._apply(settings))

    async def _apply(self, settings: Settings) -> None:
        async with self._turn:  # one change at a time, in the order asked
            if self.running is not None and (not settings.api_enabled or settings.api_port != self._port):
                await self._stop()
                if not settings.api_enabled:
                    self.changed.emit("HTTP API stopped.")
            if not settings.api_enabled or self.running is not None:
                return
            try:
                self.running = await start_api(
                    self.service, settings, host=DEFAULT_HOST, port=settings.api_port, pool=self.pool
                )
            except AgentQueueError as exc:
                log.error("HTTP API: %s", exc)
                self.changed.emit(f"HTTP API not started: {exc}")
                return
            self._port = settings.api_port
            self.changed.emit(f"HTTP API on {self.running.url} ({TOKEN_HINT}).")

    async def stop(self) -> None:
        async with self._turn:
            await self._stop()

    async def _stop(self) -> None:
        if self.running is not None:
            running, self.running = self.running, None
            await running.stop()
