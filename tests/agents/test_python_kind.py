"""The python kind: calling sync and async functions by 'module:function' target."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import make_ctx, make_task

from desktop.agents import PermanentError, PythonKind, TaskCancelled, TaskTimeout
from desktop.errors import TaskValidationError

KIND = PythonKind()


def run(target: str, payload: Any = None, *, timeout_s: float | None = None, log_path: Path | None = None):
    ctx = make_ctx(make_task(payload, task_id=7), timeout_s=timeout_s, log_path=log_path)
    return KIND.run(ctx.task, {"target": target}, ctx), ctx


def test_calls_a_sync_function_with_payload_and_ctx(log_path: Path) -> None:
    result, ctx = run("pykind_targets:add", {"a": 2, "b": 3}, log_path=log_path)
    assert result == {"sum": 5, "task_id": 7, "thread": threading.current_thread().name}
    assert ctx.on_progress.progress == [(50, "adding")]
    assert log_path.read_text() == "adding 2 and 3\n"


def test_runs_a_coroutine_function_in_the_calling_thread() -> None:
    result, ctx = run("pykind_targets:async_add", {"a": 1, "b": 1})
    assert result == {"sum": 2, "thread": threading.current_thread().name}
    assert ctx.on_progress.progress == [(10, "starting"), (90, "almost")]


def test_a_returned_coroutine_is_awaited() -> None:
    result, _ = run("pykind_targets:returns_coroutine", {"a": 4, "b": 5})
    assert result["sum"] == 9


def test_coroutines_work_from_a_thread_that_already_runs_a_loop() -> None:
    async def inside_a_loop() -> Any:
        return run("pykind_targets:async_add", {"a": 1, "b": 2})[0]

    assert asyncio.run(inside_a_loop())["sum"] == 3


def test_dotted_attribute_targets() -> None:
    assert run("pykind_targets:Jobs.nested")[0] == "nested ok"


def test_exceptions_propagate_unchanged() -> None:
    with pytest.raises(ValueError, match="boom from the helper") as info:
        run("pykind_targets:boom")
    assert info.traceback[-1].name == "boom"  # the worker records the function's own traceback


def test_permanent_error_propagates_as_is() -> None:
    with pytest.raises(PermanentError, match="^refused for good$"):
        run("pykind_targets:refuse")


@pytest.mark.parametrize("target", ["pykind_targets:not_json", "pykind_targets:nan"])
def test_non_json_results_fail_permanently(target: str) -> None:
    with pytest.raises(PermanentError, match=f"{target} returned a value that is not JSON-serialisable"):
        run(target)


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("agentq_no_such_module_xyz:run", "cannot import module 'agentq_no_such_module_xyz'"),
        ("pykind_targets:missing", "'pykind_targets' has no attribute 'missing'"),
        ("pykind_targets:Jobs.missing", "has no attribute 'Jobs.missing'"),
        ("pykind_targets:NOT_CALLABLE", "is not callable"),
    ],
)
def test_unresolvable_targets_fail_permanently_naming_the_target(target: str, words: str) -> None:
    with pytest.raises(PermanentError) as info:
        run(target)
    assert words in str(info.value)
    assert target.split(":")[0] in str(info.value)


def test_cancel_stops_a_coroutine_within_a_second() -> None:
    ctx = make_ctx(make_task(None))
    timer = threading.Timer(0.2, ctx.cancel_event.set)
    timer.start()
    start = time.monotonic()
    with pytest.raises(TaskCancelled):
        KIND.run(ctx.task, {"target": "pykind_targets:sleepy"}, ctx)
    assert time.monotonic() - start < 1.2
    timer.join()


def test_timeout_stops_a_coroutine() -> None:
    start = time.monotonic()
    with pytest.raises(TaskTimeout):
        run("pykind_targets:sleepy", timeout_s=0.3)
    assert time.monotonic() - start < 1.5


def test_sync_functions_can_stop_themselves_on_cancel() -> None:
    ctx = make_ctx(make_task(None))
    threading.Timer(0.1, ctx.cancel_event.set).start()
    with pytest.raises(TaskCancelled):
        KIND.run(ctx.task, {"target": "pykind_targets:cooperative"}, ctx)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "config.target"),
        ({"target": "no_colon"}, "config.target"),
        ({"target": "a:b:c"}, "config.target"),
        ({"target": "1mod:f"}, "config.target"),
        ({"target": "mod:"}, "config.target"),
        ({"target": "mod.:f"}, "config.target"),
        ({"target": 5}, "config.target"),
        ({"target": "m:f", "args": []}, "config.args"),
    ],
)
def test_validate_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        KIND.validate(config)
    assert info.value.field == field


def test_validate_does_not_import() -> None:
    import sys

    KIND.validate({"target": "agentq_never_imported_pkg.sub:func"})
    assert "agentq_never_imported_pkg" not in sys.modules
