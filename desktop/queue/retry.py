"""The retry policy: how many times a task is retried and how long each wait is."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from desktop.errors import TaskValidationError
from desktop.queue import validation as check

DEFAULT_MAX_RETRIES = 3
DEFAULT_BASE_S = 60.0
DEFAULT_CAP_S = 3600.0
DEFAULT_JITTER = 0.1
MAX_EXPONENT = 1000  # 2.0 ** 1000 is still a float; any longer backoff is the cap anyway


def backoff_s(retry_number: int, base_s: float, cap_s: float, jitter: float, rand: Callable[[], float]) -> float:
    """The wait before retry `retry_number` (1-based): ``min(cap_s, base_s * 2 ** (n - 1))``, scaled
    by a random factor in ``[1 - jitter, 1 + jitter]``. Total: any count and any stored settings
    give a finite wait of at most cap_s * (1 + jitter) (both clamped to MAX_SECONDS)."""
    base = min(max(base_s, 0.0), check.MAX_SECONDS)
    cap = min(max(cap_s, 0.0), check.MAX_SECONDS)
    if base == 0.0 or cap == 0.0:
        return 0.0
    exponent = max(0, retry_number - 1)
    raw = cap if exponent > MAX_EXPONENT else min(cap, base * 2.0**exponent)
    return raw * (1 - jitter + 2 * jitter * rand())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap.

    The wait before retry *n* (n = 1 after the first failed attempt) is
    ``min(cap_s, base_s * 2 ** (n - 1))`` scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    With the defaults that is about 1 min, 2 min, 4 min, and at most ``max_retries + 1`` attempts.
    Values are checked as a task's would be (errors name max_retries, retry_base_s, retry_cap_s).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if check.retries("max_retries", self.max_retries) is None:
            raise TaskValidationError("max_retries", "must be a whole number, 0 or more")
        for field, value in (("retry_base_s", self.base_s), ("retry_cap_s", self.cap_s)):
            if check.non_negative_seconds(field, value) is None:
                raise TaskValidationError(field, "must be a number of seconds, 0 or more")
        if not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter < 1:
            raise TaskValidationError("jitter", "must be at least 0 and below 1")

    def delay_s(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        return backoff_s(retry_number, self.base_s, self.cap_s, self.jitter, rand)

    def should_retry(self, attempts: int) -> bool:
        """Whether a task that has failed `attempts` times gets another try."""
        return attempts <= self.max_retries
