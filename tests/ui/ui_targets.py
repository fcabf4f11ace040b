"""Targets for `python` agents in the window tests (a helper module, not tests)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from desktop.agents.base import TaskCancelled, TaskContext


def fail_first_time(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Fails while the marker file does not exist (and creates it); succeeds after that."""
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("failed once", encoding="utf-8")
        raise RuntimeError(f"first run fails on purpose (marker {marker.name} was missing)")
    return {"ok": True, "marker": marker.name}


def chatty(payload: dict[str, Any], ctx: TaskContext) -> str:
    """Logs a line and reports progress every 50 ms until cancelled or `seconds` have passed."""
    seconds = float(payload.get("seconds", 30))
    start = time.monotonic()
    step = 0
    while time.monotonic() - start < seconds:
        step += 1
        ctx.log(f"working: step {step}")
        ctx.progress(min(99, int(100 * (time.monotonic() - start) / seconds)), f"step {step}")
        if ctx.cancel_event.wait(0.05):
            raise TaskCancelled(f"stopped at step {step}")
    return f"done after {step} steps"
