"""Built-in kinds for trying the queue out and for tests: ``echo``, ``sleep`` and ``fail``.

They take no config (any dict is accepted and ignored); everything comes from the payload.
"""

from __future__ import annotations

import math
import time
from typing import Any

from desktop.agents.base import PermanentError, TaskCancelled, TaskContext, TaskTimeout
from desktop.errors import TaskValidationError
from desktop.queue.types import Task

SLEEP_STEP_S = 0.05


def _check_config(config: Any) -> None:
    if config is not None and not isinstance(config, dict):
        raise TaskValidationError("config", "must be a JSON object (a dict)")


class EchoKind:
    """Returns the payload unchanged."""

    name = "echo"
    description = "Return the payload as the result."

    def validate(self, config: dict[str, Any]) -> None:
        _check_config(config)

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> Any:
        ctx.check_cancelled()
        return task.payload


class SleepKind:
    """Sleeps for ``payload["seconds"]`` (or a bare number), reporting progress as it goes."""

    name = "sleep"
    description = 'Sleep for payload {"seconds": n} (or a number), honouring cancel and timeout.'

    def validate(self, config: dict[str, Any]) -> None:
        _check_config(config)

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> dict[str, float]:
        seconds = _seconds(task.payload)
        start = time.monotonic()
        end = start + seconds
        deadline = None if ctx.timeout_s is None else start + ctx.timeout_s
        last_percent = -1
        while True:
            now = time.monotonic()
            if ctx.cancelled:
                raise TaskCancelled(f"cancelled after sleeping {now - start:.2f} s of {seconds:g} s")
            if now >= end:
                break
            if deadline is not None and now >= deadline:
                raise TaskTimeout(ctx.timeout_s)  # type: ignore[arg-type]
            percent = int(100 * (now - start) / seconds)
            if percent != last_percent:
                ctx.progress(percent, f"slept {now - start:.1f} of {seconds:g} s")
                last_percent = percent
            limit = end if deadline is None else min(end, deadline)
            ctx.cancel_event.wait(min(SLEEP_STEP_S, max(0.0, limit - now)))
        ctx.progress(100, f"slept {seconds:g} s")
        return {"slept_s": seconds}


def _seconds(payload: Any) -> float:
    value = payload.get("seconds") if isinstance(payload, dict) else payload
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PermanentError('sleep needs a payload {"seconds": n} or a number n, with n >= 0')
    return float(value)


class FailKind:
    """Always fails: retryably, or for good with payload ``{"permanent": true}``."""

    name = "fail"
    description = 'Always fail ("failed on purpose"); payload {"permanent": true} skips retries.'

    def validate(self, config: dict[str, Any]) -> None:
        _check_config(config)

    def run(self, task: Task, config: dict[str, Any], ctx: TaskContext) -> Any:
        payload = task.payload if isinstance(task.payload, dict) else {}
        message = str(payload.get("message") or "failed on purpose")
        if payload.get("permanent") is True:
            raise PermanentError(message)
        raise FailedOnPurpose(message)


class FailedOnPurpose(Exception):
    """The ``fail`` kind's ordinary, retryable error."""
