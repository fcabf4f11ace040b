"""Settings profiles, the settings file, and the with_retry / with_timeout helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from pathlib import Path

import pytest

from desktop.agents.base import TaskTimeout
from desktop.config import PROFILES, load_settings, save_settings, with_retry, with_timeout
from desktop.errors import TaskValidationError
from desktop.queue import RetryPolicy


@pytest.mark.parametrize(
    ("profile", "concurrency", "timeout"), [("development", 2, 30.0), ("test", 1, 10.0), ("production", 10, 60.0)]
)
def test_agentq_env_picks_the_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, profile: str, concurrency: int, timeout: float
) -> None:
    monkeypatch.setenv("AGENTQ_ENV", profile)
    settings = load_settings(path=tmp_path / "missing.json")
    assert (settings.profile, settings.concurrency, settings.timeout_s) == (profile, concurrency, timeout)
    assert (settings.max_retries, settings.log_level) == (3, "INFO")


def test_the_settings_file_overrides_the_profile_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    chosen = dataclasses.replace(PROFILES["production"], concurrency=4, retention_days=7)
    save_settings(chosen, path)
    stored = json.loads(path.read_text())
    assert stored == {"profile": "production", "concurrency": 4, "retention_days": 7}
    loaded = load_settings(path=path)
    assert loaded == chosen
    assert loaded.timeout_s == PROFILES["production"].timeout_s


def test_bad_settings_name_the_setting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"concurrency": 0, "colour": "blue"}))
    with pytest.raises(TaskValidationError) as error:
        load_settings(path=path)
    assert error.value.field == "concurrency"
    path.write_text("{not json")
    with pytest.raises(TaskValidationError, match="not valid JSON"):
        load_settings(path=path)
    path.write_text(json.dumps({"colour": "blue"}))
    with caplog.at_level(logging.WARNING):
        load_settings(path=path)
    assert "colour" in caplog.text


def test_the_editor_command_must_read_as_a_command_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"editor_command": "code --new-window '{path}"}))
    with pytest.raises(TaskValidationError, match="cannot be read as a command") as error:
        load_settings(path=path)
    assert error.value.field == "editor_command"
    chosen = dataclasses.replace(PROFILES["development"], editor_command="code {path}", terminal_command="kitty")
    save_settings(chosen, path)
    assert load_settings(path=path) == chosen


def test_with_retry_retries_with_backoff_and_logs_each_try(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []
    waits: list[float] = []

    @with_retry(RetryPolicy(max_retries=2, base_s=0.5, jitter=0.0), sleep=waits.append)
    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "done"

    with caplog.at_level(logging.WARNING):
        assert flaky() == "done"
    assert len(calls) == 3 and waits == [0.5, 1.0]
    assert caplog.text.count("ConnectionError: try again") == 2  # each failed try, with its traceback


def test_with_retry_gives_up_after_the_policy_and_raises_the_last_error() -> None:
    @with_retry(RetryPolicy(max_retries=1, base_s=0.0), sleep=lambda _s: None)
    def broken() -> None:
        raise ValueError("always")

    with pytest.raises(ValueError, match="always"):
        broken()


def test_with_retry_works_on_async_functions() -> None:
    tries = []

    @with_retry(RetryPolicy(max_retries=3, base_s=0.001, jitter=0.0))
    async def flaky() -> int:
        tries.append(1)
        if len(tries) < 2:
            raise OSError("once")
        return len(tries)

    assert asyncio.run(flaky()) == 2


def test_with_timeout_stops_waiting_for_sync_and_async_functions() -> None:
    @with_timeout(0.1)
    def slow() -> None:
        time.sleep(1)

    @with_timeout(0.1)
    async def slow_async() -> None:
        await asyncio.sleep(1)

    @with_timeout(1)
    def quick() -> int:
        return 7

    started = time.monotonic()
    with pytest.raises(TaskTimeout, match="timed out after 0.1 s"):
        slow()
    with pytest.raises(TaskTimeout):
        asyncio.run(slow_async())
    assert time.monotonic() - started < 0.9
    assert quick() == 7
