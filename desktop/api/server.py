"""Running the API: headless (`agentq serve`), or as a task on a running asyncio loop (the window's).

Both use uvicorn's Server without its signal handlers: whoever runs the loop decides when it
stops. The socket is bound before uvicorn starts, so a busy port is a one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import uvicorn

from desktop.api.app import create_app
from desktop.api.binding import check_host, listen, url_of
from desktop.api.credentials import TokenStore
from desktop.config import Settings
from desktop.errors import AgentQueueError
from desktop.queue import TaskQueueService

if TYPE_CHECKING:
    from desktop.workers.pool import WorkerPool

log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_S = 5
STARTUP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # no signal handlers: `agentq serve` installs its own, and the window has none


def _server(app: Any) -> _Server:
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, server_header=False, proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, loop="none",
    )
    return _Server(config)


class RunningApi:
    """A server running as a task on the current loop; `await stop()` ends it gracefully."""

    def __init__(self, server: _Server, task: asyncio.Task[None], url: str) -> None:
        self.server = server
        self.task = task
        self.url = url

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_api(
    service: TaskQueueService,
    settings: Settings,
    *,
    host: str,
    port: int,
    allow_remote: bool = False,
    pool: WorkerPool | None = None,
    tokens: TokenStore | None = None,
    cors_origins: Sequence[str] = (),
) -> RunningApi:
    """Start the API on the running loop and return once it accepts connections.

    Raises TaskValidationError('host', ...) for a non-loopback `host` without `allow_remote`, and
    AgentQueueError when the port cannot be bound or the server does not start.
    """
    warning = check_host(host, allow_remote=allow_remote)
    if warning:
        log.warning("%s", warning)
    sock = listen(host, port)
    app = create_app(service, settings, tokens=tokens or TokenStore(), pool=pool, cors_origins=cors_origins)
    server = _server(app)
    url = url_of(sock)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while not server.started:
        if task.done() or loop.time() > deadline:
            server.should_exit = True
            sock.close()
            raise AgentQueueError(f"the API server did not start on {url}")
        await asyncio.sleep(0.01)
    log.info("API listening on %s", url)
    return RunningApi(server, task, url)


def serve_forever(
    service: TaskQueueService,
    settings: Settings,
    sock: socket.socket,
    *,
    pool: WorkerPool | None = None,
    cors_origins: Sequence[str] = (),
) -> None:
    """Serve on `sock` until SIGTERM or SIGINT (a second SIGINT cuts the graceful wait short)."""
    server = _server(create_app(service, settings, tokens=TokenStore(), pool=pool, cors_origins=cors_origins))

    def on_signal(signum: int) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        await server.serve(sockets=[sock])

    asyncio.run(main())
