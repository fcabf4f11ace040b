"""Waiting on conditions with a deadline, and telling whether a process still runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def wait_until(condition: Callable[[], object], limit: float, what: str) -> float:
    """Poll `condition` until it is true; return the seconds it took, or fail after `limit`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < limit, f"{what}: not within {limit:g} s"
        time.sleep(0.02)
    return time.monotonic() - start


def process_gone(pid: int) -> bool:
    """True once `pid` no longer runs (an unreaped zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat[stat.rfind(")") + 2] in "ZX"


def read_pids(path: Path) -> list[int]:
    """The pids a test program wrote to `path` (space-separated), or [] before it wrote them."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [int(word) for word in text.split()] if text.endswith("\n") else []
