"""Functions the `python` agent calls in tests."""

from __future__ import annotations

import asyncio
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
