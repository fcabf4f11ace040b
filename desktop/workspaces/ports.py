"""A PORT for each running task: one no other running task holds, and nothing on the machine uses.

Two worktrees running dev servers collide on ports; each task gets its own in ``$PORT``. The
engine knows which ports its running tasks hold and passes them in; the port returned is also free
on the machine right now (a bind test on the loopback address). The caller records it with the
task, so a second process choosing at the same moment sees it held.
"""

from __future__ import annotations

import socket
from collections.abc import Collection

from desktop.workspaces.git import WorkspaceError

PORT_RANGE = (20000, 29999)  # inclusive; well above the usual dev-server defaults (3000, 5173, 8000, 8080)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on (or holds) `port` on `host` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(
    held: Collection[int],
    *,
    first: int = PORT_RANGE[0],
    last: int = PORT_RANGE[1],
    host: str = "127.0.0.1",
) -> int:
    """The lowest port in ``first..last`` that is not in `held` and is free on `host`.

    Raises WorkspaceError when every port of the range is taken.
    """
    if not 0 < first <= last <= 65535:
        raise ValueError(f"not a port range: {first}..{last}")
    taken = set(held)
    for port in range(first, last + 1):
        if port not in taken and port_is_free(port, host):
            return port
    raise WorkspaceError(f"no free port left in {first}..{last} ({len(taken)} held by running tasks)")
