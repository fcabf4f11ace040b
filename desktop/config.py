"""Settings: the development / test / production profiles, the settings file, and retry helpers.

One table of defaults feeds the worker pool, the CLI and the window. The profile comes from
AGENTQ_ENV (default: development); the settings file (settings.json in the user config folder)
overrides any value; each agent and task can override timeout and retries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import inspect
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from desktop import paths
from desktop.agents.base import TaskTimeout
from desktop.command_line import split_command
from desktop.errors import TaskValidationError
from desktop.private_files import write_private_text
from desktop.queue import validation as check
from desktop.queue.retry import RetryPolicy

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


DEFAULT_API_PORT = 8765


@dataclass(frozen=True)
class Settings:
    """Everything a worker pool and the window need to know; see PROFILES for the defaults."""

    profile: str = "development"
    concurrency: int = 2
    timeout_s: float = 30.0
    max_retries: int = 3
    retry_base_s: float = 60.0
    retry_cap_s: float = 3600.0
    poll_interval_s: float = 1.0
    lease_s: float = 60.0
    shutdown_grace_s: float = 10.0
    database_retry_s: float = 300.0  # how long a worker keeps retrying a failing database before it exits
    retention_days: float = 30.0
    archive: bool = False  # retention writes finished tasks to the archive folder before deleting them
    api_enabled: bool = False  # the window serves the HTTP API on loopback (agentq serve does it headless)
    api_port: int = DEFAULT_API_PORT
    log_level: str = "INFO"
    database_url: str | None = None
    start_minimized: bool = False
    editor_command: str = ""  # opens a task's worktree: "code {path}" ({path} appended if absent); "" uses $VISUAL
    terminal_command: str = ""  # "" opens the system's usual terminal in the worktree

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_retries, self.retry_base_s, self.retry_cap_s)

    def validate(self) -> Settings:
        """Return self, or raise TaskValidationError naming the first bad setting."""
        # The checks the queue applies to the same values: numbers within what it can compute with.
        check.concurrency(self.concurrency)
        seconds = {"timeout_s": check.positive_seconds, "poll_interval_s": check.positive_seconds,
                   "lease_s": check.positive_seconds, "retry_base_s": check.non_negative_seconds,
                   "retry_cap_s": check.non_negative_seconds, "shutdown_grace_s": check.non_negative_seconds,
                   "database_retry_s": check.positive_seconds}
        for name, rule in seconds.items():
            if rule(name, getattr(self, name)) is None:
                raise TaskValidationError(name, "must be a number of seconds")
        if check.retries("max_retries", self.max_retries) is None:
            raise TaskValidationError("max_retries", "must be a whole number, 0 or more")
        days = self.retention_days
        if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 <= days <= check.MAX_SECONDS / 86_400:
            raise TaskValidationError("retention_days", f"must be a number of days from 0 to 36,600 (got {days!r})")
        for name in ("archive", "api_enabled", "start_minimized"):
            if not isinstance(getattr(self, name), bool):
                raise TaskValidationError(name, f"must be true or false (got {getattr(self, name)!r})")
        if isinstance(self.api_port, bool) or not isinstance(self.api_port, int) or not 0 <= self.api_port <= 65_535:
            raise TaskValidationError("api_port", f"must be a port from 0 to 65535 (got {self.api_port!r})")
        if self.profile not in PROFILES:
            raise TaskValidationError("profile", f"must be one of {', '.join(PROFILES)}")
        for name in ("editor_command", "terminal_command"):
            split_command(getattr(self, name), name)
        if logging.getLevelName(str(self.log_level).upper()) == f"Level {str(self.log_level).upper()}":
            raise TaskValidationError("log_level", "must be DEBUG, INFO, WARNING or ERROR")
        return self


PROFILES: dict[str, Settings] = {
    "development": Settings(profile="development", concurrency=2, timeout_s=30.0),
    "test": Settings(profile="test", concurrency=1, timeout_s=10.0),
    "production": Settings(profile="production", concurrency=10, timeout_s=60.0),
}
_FIELDS = {f.name for f in dataclasses.fields(Settings)}


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load_settings(profile: str | None = None, path: Path | None = None) -> Settings:
    """The profile's defaults (AGENTQ_ENV when `profile` is None) overlaid with the settings file.

    The file may name its own profile; unknown keys are ignored with a warning, and bad values
    raise TaskValidationError naming the setting.
    """
    path = path or settings_path()
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskValidationError("settings", f"{path} is not valid JSON ({exc})") from exc
        if not isinstance(stored, dict):
            raise TaskValidationError("settings", f"{path} must hold a JSON object")
    name = profile or os.environ.get("AGENTQ_ENV") or stored.get("profile") or "development"
    if name not in PROFILES:
        raise TaskValidationError("profile", f"must be one of {', '.join(PROFILES)} (got {name!r})")
    unknown = sorted(set(stored) - _FIELDS)
    if unknown:
        log.warning("ignoring unknown settings in %s: %s", path, ", ".join(unknown))
    overrides = {k: v for k, v in stored.items() if k in _FIELDS and k != "profile"}
    return dataclasses.replace(PROFILES[name], **overrides).validate()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings that differ from their profile's defaults (a 0600 file, replaced
    atomically); returns the file's path."""
    path = path or settings_path()
    base = PROFILES[settings.validate().profile]
    changed = {
        f: getattr(settings, f) for f in _FIELDS if getattr(settings, f) != getattr(base, f) or f == "profile"
    }
    return write_private_text(path, json.dumps(changed, indent=2, sort_keys=True))


def with_retry(
    policy: RetryPolicy | None = None,
    *,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[[F], F]:
    """Retry a sync or async function with the retry policy's exponential backoff and jitter.

    Each failed try is logged with its traceback; after ``policy.max_retries`` retries the last
    exception propagates. Example: ``@with_retry(RetryPolicy(max_retries=2, base_s=0.5))``.
    """
    policy = policy or RetryPolicy()

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                for attempt in range(1, policy.max_retries + 2):
                    try:
                        return await func(*args, **kwargs)
                    except retry_on:
                        if attempt > policy.max_retries:
                            raise
                        delay = _log_try(func, attempt, policy)
                        await asyncio.sleep(delay)
                raise AssertionError("unreachable")

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, policy.max_retries + 2):
                try:
                    return func(*args, **kwargs)
                except retry_on:
                    if attempt > policy.max_retries:
                        raise
                    sleep(_log_try(func, attempt, policy))
            raise AssertionError("unreachable")

        return run  # type: ignore[return-value]

    return decorate


def _log_try(func: Callable[..., Any], attempt: int, policy: RetryPolicy) -> float:
    delay = policy.delay_s(attempt)
    log.warning(
        "%s failed (try %d of %d); retrying in %.2f s",
        getattr(func, "__qualname__", func), attempt, policy.max_retries + 1, delay, exc_info=True,
    )
    return delay


def with_timeout(seconds: float) -> Callable[[F], F]:
    """Raise TaskTimeout when a sync or async function runs longer than `seconds`.

    An async function is cancelled. A sync one runs in a helper thread that Python cannot stop:
    the caller gets TaskTimeout on time, and the thread finishes in the background.
    """

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await asyncio.wait_for(func(*args, **kwargs), seconds)
                except TimeoutError:
                    raise TaskTimeout(seconds) from None

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            try:
                return executor.submit(func, *args, **kwargs).result(timeout=seconds)
            except concurrent.futures.TimeoutError:
                raise TaskTimeout(seconds) from None
            finally:
                executor.shutdown(wait=False)

        return run  # type: ignore[return-value]

    return decorate
