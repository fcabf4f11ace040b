"""Functions the python kind tests call through targets like 'pykind_targets:add'."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from desktop.agents import PermanentError, TaskContext

NOT_CALLABLE = 42


def add(payload: dict[str, int], ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(50, "adding")
    ctx.log(f"adding {payload['a']} and {payload['b']}")
    return {"sum": payload["a"] + payload["b"], "task_id": ctx.task.id, "thread": threading.current_thread().name}


async def async_add(payload: dict[str, int], ctx: TaskContext) -> dict[str, Any]:
    ctx.progress(10, "starting")
    await asyncio.sleep(0.01)
    ctx.progress(90, "almost")
    return {"sum": payload["a"] + payload["b"], "thread": threading.current_thread().name}


def returns_coroutine(payload: Any, ctx: TaskContext) -> Any:
    return async_add(payload, ctx)


def boom(payload: Any, ctx: TaskContext) -> None:
    raise ValueError("boom from the helper")


def refuse(payload: Any, ctx: TaskContext) -> None:
    raise PermanentError("refused for good")


def not_json(payload: Any, ctx: TaskContext) -> Any:
    return {"when": object()}


def nan(payload: Any, ctx: TaskContext) -> Any:
    return float("nan")


async def sleepy(payload: Any, ctx: TaskContext) -> str:
    await asyncio.sleep(30)
    return "woke up"


def cooperative(payload: Any, ctx: TaskContext) -> str:
    """A long sync function that checks for cancel at safe points."""
    for _ in range(300):
        ctx.check_cancelled()
        time.sleep(0.01)
    return "done"


class Jobs:
    @staticmethod
    def nested(payload: Any, ctx: TaskContext) -> str:
        return "nested ok"
