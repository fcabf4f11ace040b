"""Functions the `python` agent calls in tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from desktop.agents.base import TaskContext


def add(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(50, "adding")
    ctx.log(f"adding {payload['a']} and {payload['b']}")
    return {"sum": payload["a"] + payload["b"]}


def cooperative_spin(payload: Any, ctx: TaskContext) -> None:
    """Runs until cancelled, checking the flag like a well-behaved long task."""
    while True:
        ctx.check_cancelled()
        ctx.cancel_event.wait(0.01)


async def async_double(payload: dict[str, Any], ctx: TaskContext) -> int:
    await asyncio.sleep(0.01)
    return payload["n"] * 2


def limited_once(payload: dict[str, Any], ctx: TaskContext) -> str:
    """Stops at a usage limit on its first run (like Claude Code's rate_limit_event), then works."""
    from pathlib import Path

    from desktop.agents.base import UsageLimitReached

    marker = Path(payload["marker"])
    ctx.report(session_id="s-1", cost_usd=0.5, input_tokens=100)
    if not marker.exists():
        marker.write_text("limited", encoding="utf-8")
        raise UsageLimitReached(payload["resets_at"], "usage limit reached")
    return "done"


def reporting(payload: Any, ctx: TaskContext) -> str:
    ctx.report(cost_usd=1.25, input_tokens=10, output_tokens=20, cached_tokens=5, turns=3, model="m")
    if payload and payload.get("fail"):
        raise RuntimeError("failed after reporting")
    return "ok"


STUBBORN_RELEASE = threading.Event()  # the test lets `stubborn` return
STUBBORN_RETURNED = threading.Event()


def stubborn(payload: dict[str, Any], ctx: TaskContext) -> None:
    """Ignores every request to stop, until the test sets STUBBORN_RELEASE (or `seconds` pass)."""
    STUBBORN_RELEASE.wait(payload["seconds"])
    STUBBORN_RETURNED.set()
