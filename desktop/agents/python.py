"""The ``python`` kind: call a Python function with the task's payload.

Config: ``{"target": "package.module:function"}`` (the part after ``:`` may be dotted, e.g.
``module:Class.method``). The function is called as ``function(payload, ctx)`` in the worker's
thread and must return a JSON-serialisable value.

Coroutine functions (``async def``) are run with ``asyncio.run`` in the worker's thread, a fresh
event loop per task; if that thread already runs a loop, a helper thread is used instead. While
a coroutine runs, the kind watches ``ctx``: a cancel cancels the coroutine and raises
TaskCancelled, and passing ``ctx.timeout_s`` cancels it and raises TaskTimeout. A plain function
cannot be interrupted; it should call ``ctx.check_cancelled()`` at safe points.

Exceptions from the function propagate unchanged, so the worker records their traceback; raise
PermanentError to fail without retries. A target that cannot be imported or found fails the
task for good.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import re
import threading
import time
from collections.abc import Coroutine
from typing import Any

from desktop.agents._config import config_dict, validated
from desktop.agents.base import PermanentError, TaskCancelled, TaskContext, TaskTimeout
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TARGET_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")
POLL_S = 0.1


class PythonKind:
    """Calls ``module:function`` with (payload, ctx) and returns its result."""

    name = "python"
    description = "Call a Python function (module.path:function) with the payload and context."

    def validate(self, config: dict[str, Any]) -> None:
        config = config_dict(config, ("target",), self.name)
        target = config.get("target")
        if not isinstance(target, str) or not TARGET_RE.fullmatch(target):
            raise TaskValidationError(
                "config.target", "must be 'module.path:function', e.g. 'mypackage.jobs:build'"
            )

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> Any:
        config = validated(self.validate, config)
        target: str = config["target"]
        function = resolve(target)
        ctx.check_cancelled()
        if inspect.iscoroutinefunction(function):
            result = run_coroutine(function(task.payload, ctx), ctx)
        else:
            result = function(task.payload, ctx)
            if inspect.iscoroutine(result):  # e.g. a sync wrapper handing back a coroutine
                result = run_coroutine(result, ctx)
        try:
            json.dumps(result, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PermanentError(
                f"{target} returned a value that is not JSON-serialisable "
                f"({type(result).__name__}): {exc}"
            ) from None
        return result


def resolve(target: str) -> Any:
    """Import `target` ('module:attr.path') and return the callable; PermanentError if not found."""
    module_name, _, attr_path = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as exc:
        raise PermanentError(f"cannot import module {module_name!r} for target {target!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PermanentError(f"target {target!r}: {module_name!r} has no attribute {attr_path!r}") from None
    if not callable(obj):
        raise PermanentError(f"target {target!r} is not callable (it is a {type(obj).__name__})")
    return obj


def run_coroutine(coro: Coroutine[Any, Any, Any], ctx: TaskContext) -> Any:
    """Run `coro` to completion on a new event loop, stopping it on cancel or timeout."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_supervise(coro, ctx))
    # This thread already runs a loop: asyncio.run would refuse, so use a helper thread.
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(_supervise(coro, ctx))
        except BaseException as exc:  # handed back to the caller below
            outcome["error"] = exc

    helper = threading.Thread(target=target, name="python-kind-async", daemon=True)
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _supervise(coro: Coroutine[Any, Any, Any], ctx: TaskContext) -> Any:
    task = asyncio.ensure_future(coro)
    deadline = None if ctx.timeout_s is None else time.monotonic() + ctx.timeout_s
    while True:
        await asyncio.wait({task}, timeout=POLL_S)
        if task.done():
            return task.result()
        stop: BaseException | None = None
        if ctx.cancelled:
            stop = TaskCancelled("cancelled while running; the coroutine was cancelled")
        elif deadline is not None and time.monotonic() >= deadline:
            stop = TaskTimeout(ctx.timeout_s)  # type: ignore[arg-type]
        if stop is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # it failed while being stopped; the stop still wins
                pass
            else:
                return task.result()  # it finished anyway, ignoring the cancel
            raise stop
