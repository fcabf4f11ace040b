"""Telling whether a process still runs, and waiting on conditions with a deadline (tests/waiting.py)."""

from __future__ import annotations

from pathlib import Path

from tests.waiting import wait_until

__all__ = ["process_gone", "read_pids", "wait_until"]


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
