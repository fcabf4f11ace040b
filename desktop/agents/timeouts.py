"""Which timeout a task's attempt gets, and where it comes from: one rule for the pool and the CLI.

Precedence: the task's own timeout, else its agent's, else the agent config's ``timeout_s``, else
the kind's own default (``default_timeout_s``: the coding-agent presets' 2 hours), else the
profile's default (development 30 s, test 10 s, production 60 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Timeout:
    """A timeout in seconds and, in words, where it comes from."""

    seconds: float
    source: str

    def describe(self) -> str:
        """``2 h (from the claude preset's default)``."""
        return f"{seconds_text(self.seconds)} (from {self.source})"


def attempt_timeout(
    *,
    task_timeout_s: float | None,
    agent_timeout_s: float | None,
    config: Any,
    kind: Any,
    profile_timeout_s: float,
    profile: str,
) -> Timeout:
    """The timeout of an attempt (see the module's precedence). `kind` may be None (not installed)."""
    if task_timeout_s:
        return Timeout(float(task_timeout_s), "the task")
    if agent_timeout_s:
        return Timeout(float(agent_timeout_s), "the agent")
    configured = _seconds(config.get("timeout_s") if isinstance(config, dict) else None)
    if configured is not None:
        return Timeout(configured, "the agent's config (timeout_s)")
    default = _seconds(getattr(kind, "default_timeout_s", None))
    if default is not None:
        return Timeout(default, f"the {kind.name} preset's default")
    return Timeout(float(profile_timeout_s), f"the {profile} profile's default")


def _seconds(value: Any) -> float | None:
    """`value` as seconds if it is a positive, finite number; else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    return None


def seconds_text(seconds: float) -> str:
    """``90 s``, ``10 min``, ``2 h``, ``1 h 30 min``."""
    if seconds < 60 or seconds % 60:
        return f"{seconds:g} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")
