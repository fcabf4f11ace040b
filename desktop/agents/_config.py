"""Small checks the agent kinds share when validating their configs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from desktop.agents.base import PermanentError
from desktop.errors import TaskValidationError


def config_dict(config: Any, allowed: Iterable[str], kind: str) -> dict[str, Any]:
    """Check that `config` is a dict using only `allowed` keys, and return it."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise TaskValidationError("config", "must be a JSON object (a dict)")
    allowed = sorted(allowed)
    for key in config:
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise TaskValidationError(f"config.{key}", f"is not a {kind} setting (known settings: {known})")
    return config


def positive_seconds(config: dict[str, Any], key: str) -> float | None:
    """The optional positive, finite number of seconds at `config[key]`."""
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise TaskValidationError(f"config.{key}", "must be a positive number of seconds")
    return float(value)


def string_map(config: dict[str, Any], key: str) -> dict[str, str]:
    """The optional {str: str} dict at `config[key]`."""
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaskValidationError(f"config.{key}", "must be a JSON object of strings to strings")
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise TaskValidationError(f"config.{key}", "names must be non-empty strings")
        if not isinstance(item, str):
            raise TaskValidationError(f"config.{key}.{name}", "must be a string")
    return value


def validated(validate: Callable[[dict[str, Any]], None], config: Any) -> dict[str, Any]:
    """Run `validate` at the start of run(): a bad config fails the task for good."""
    try:
        validate(config)
    except TaskValidationError as exc:
        raise PermanentError(f"invalid agent config: {exc}") from None
    return config or {}
