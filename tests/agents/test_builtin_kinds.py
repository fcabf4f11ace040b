"""The built-in echo, sleep and fail kinds."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task

from desktop.agents import (
    EchoKind,
    FailKind,
    PermanentError,
    SleepKind,
    TaskCancelled,
    TaskTimeout,
)


def run(kind: Any, payload: Any, *, timeout_s: float | None = None):
    ctx = make_ctx(make_task(payload), timeout_s=timeout_s)
    return kind.run(ctx.task, {}, ctx), ctx


@pytest.mark.parametrize("kind", [EchoKind(), SleepKind(), FailKind()])
def test_empty_config_is_valid(kind: Any) -> None:
    kind.validate({})


@pytest.mark.parametrize("payload", [{"a": [1, 2]}, "text", 3, None])
def test_echo_returns_the_payload(payload: Any) -> None:
    assert run(EchoKind(), payload)[0] == payload


@pytest.mark.parametrize("payload", [{"seconds": 0.2}, 0.2])
def test_sleep_sleeps_and_reports_progress(payload: Any) -> None:
    start = time.monotonic()
    result, ctx = run(SleepKind(), payload)
    assert 0.2 <= time.monotonic() - start < 0.6
    assert result == {"slept_s": 0.2}
    percents = [p for p, _ in ctx.on_progress.progress]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(percents) and len(percents) >= 3


def test_sleep_zero_returns_at_once() -> None:
    assert run(SleepKind(), {"seconds": 0})[0] == {"slept_s": 0.0}


def test_sleep_stops_on_cancel() -> None:
    ctx = make_ctx(make_task({"seconds": 30}))
    timer = threading.Timer(0.2, ctx.cancel_event.set)
    timer.start()
    start = time.monotonic()
    with pytest.raises(TaskCancelled):
        SleepKind().run(ctx.task, {}, ctx)
    assert time.monotonic() - start < 0.6
    timer.join()


def test_sleep_times_out() -> None:
    start = time.monotonic()
    with pytest.raises(TaskTimeout) as info:
        run(SleepKind(), {"seconds": 30}, timeout_s=0.2)
    assert info.value.seconds == 0.2
    assert time.monotonic() - start < 0.6


@pytest.mark.parametrize("payload", [None, {"seconds": "1"}, {"seconds": -1}, True, {"secs": 1}, float("inf")])
def test_sleep_refuses_a_bad_payload_permanently(payload: Any) -> None:
    with pytest.raises(PermanentError, match="seconds"):
        run(SleepKind(), payload)


@pytest.mark.parametrize("payload", [None, {}, {"permanent": False}, "x"])
def test_fail_is_retryable_by_default(payload: Any) -> None:
    with pytest.raises(Exception, match="^failed on purpose$") as info:
        run(FailKind(), payload)
    assert not isinstance(info.value, PermanentError)


def test_fail_can_be_permanent() -> None:
    with pytest.raises(PermanentError, match="^failed on purpose$"):
        run(FailKind(), {"permanent": True})
