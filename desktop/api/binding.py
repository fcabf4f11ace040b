"""Where the API listens: loopback unless the user says otherwise, on a socket bound up front."""

from __future__ import annotations

import ipaddress
import socket

from desktop.config import DEFAULT_API_PORT
from desktop.errors import AgentQueueError, TaskValidationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = DEFAULT_API_PORT
BACKLOG = 2048  # uvicorn's default


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool) -> str | None:
    """A warning to show when binding `host` is allowed though it is not loopback, else None.

    Raises TaskValidationError('host', ...) for a non-loopback host without `allow_remote`.
    """
    if is_loopback(host):
        return None
    if not allow_remote:
        raise TaskValidationError(
            "host", f"{host} is not a loopback address, so other machines could reach the API; "
            "pass --allow-remote to listen there anyway"
        )
    return (
        f"the API listens on {host}, reachable from other machines: anyone who can connect and has "
        "the token can run tasks, and the traffic is not encrypted (put it behind a TLS proxy)"
    )


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port (0 picks a free port); a one-line error when it cannot be.

    It listens at once: connections made before the server's loop runs wait in the backlog.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise AgentQueueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise AgentQueueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
